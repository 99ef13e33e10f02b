"""Checks every calibration reader shares (``calibration``, ``easymocap``, ``qualisys``): each
field read as a finite array of the right shape, a rotation checked to be one, Rodrigues vectors
to and from matrices, and ``_camera``, the last checks before a ``Camera`` is made. Internal to
``bodyfit.fileio``: the format modules import these, and ``calibration`` dispatches to them.

Every camera comes out in ``Camera``'s convention: OpenCV axes (x right, y down, z forward),
world to camera (``R X + t``), metres, ``image_size`` (height, width) px. Every problem raises a
one-line ``CalibrationError`` naming the file, the camera and the field.

Shapes: a camera's ``matrix`` (3, 3), ``distortion`` (D,), ``rotation`` (3, 3), ``translation`` (3,).
"""
from __future__ import annotations

from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from bodyfit.fileio.cameras import CalibrationError, Camera

DISTORTION_LENGTHS = (4, 5, 8, 12, 14)  # what OpenCV's standard model takes; the fisheye one takes 4


def _dims(shape: tuple[int, ...]) -> str:
    return f"{shape[0]} values" if len(shape) == 1 else "x".join(str(n) for n in shape)


def _array(value: Any, shape: tuple[int, ...], where: str) -> np.ndarray:
    """``value`` as a finite float64 array of ``shape``; ``where`` names the file, camera and field.
    A vector (``shape`` of one axis) may arrive as a row or a column (EasyMocap's 3x1)."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise CalibrationError(f"{where} must be {_dims(shape)} numbers, got {str(value)[:60]}") from None
    if len(shape) == 1 and array.ndim == 2 and 1 in array.shape:
        array = array.reshape(-1)
    if array.shape != shape:
        raise CalibrationError(f"{where} must be {_dims(shape)}, got {_dims(array.shape) if array.ndim else 'a number'}")
    if not np.all(np.isfinite(array)):
        raise CalibrationError(f"{where} must be finite, got {array.reshape(-1).tolist()}")
    return array


def _vector(value: Any, where: str) -> np.ndarray:
    """(D,) finite values of a row, a column or a list."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise CalibrationError(f"{where} must be numbers, got {str(value)[:60]}") from None
    if array.ndim > 2 or (array.ndim == 2 and 1 not in array.shape):
        raise CalibrationError(f"{where} must be one row or column, got {_dims(array.shape)}")
    return _array(array.reshape(-1), (array.size,), where)


def _check_rotation(rotation: np.ndarray, where: str) -> np.ndarray:
    """``rotation`` (3, 3) if it is one (orthonormal within 1e-5, for files of six decimals; det +1)."""
    error = float(np.abs(rotation.T @ rotation - np.eye(3)).max())
    det = float(np.linalg.det(rotation))
    if error > 1e-5 or det < 0:
        raise CalibrationError(f"{where} is not a rotation (max |R^T R - I| = {error:.2g}, determinant {det:.4f})")
    return rotation


def _rotvec_to_rotmat(rotvec: np.ndarray) -> np.ndarray:
    """(3,) Rodrigues vector -> (3, 3) rotation matrix."""
    return Rotation.from_rotvec(rotvec).as_matrix()


def _rotmat_to_rotvec(rotation: np.ndarray) -> np.ndarray:
    """(3, 3) rotation matrix -> (3,) Rodrigues vector."""
    return Rotation.from_matrix(rotation).as_rotvec()


def _camera(name: str, *, size_hw: tuple[float, float], matrix: np.ndarray, distortion: np.ndarray,
            rotation: np.ndarray, translation: np.ndarray, fisheye: bool, where: dict[str, str]) -> Camera:
    """A ``Camera`` after the checks every format shares. ``where`` says, for the messages, where
    the ``size``, ``matrix``, ``distortion`` and ``rotation`` were read ("<file>: camera 'c': 'matrix'")."""
    if min(size_hw) < 0:
        raise CalibrationError(f"{where['size']} must not be negative, got {list(size_hw)}")
    if matrix[0, 0] <= 0 or matrix[1, 1] <= 0:
        raise CalibrationError(f"{where['matrix']} focal lengths must be positive, "
                               f"got fx={matrix[0, 0]}, fy={matrix[1, 1]}")
    if not np.allclose(matrix[2], (0.0, 0.0, 1.0), rtol=0, atol=1e-9):
        raise CalibrationError(f"{where['matrix']} last row must be 0 0 1, got {matrix[2].tolist()}")
    if abs(matrix[0, 1]) > 1e-9 * matrix[0, 0] or matrix[1, 0] != 0:
        raise CalibrationError(f"{where['matrix']} has skew ({matrix[0, 1]}); bodyfit's cameras have none")
    lengths = (4,) if fisheye else DISTORTION_LENGTHS
    if len(distortion) not in lengths:
        model = "the fisheye" if fisheye else "OpenCV's"
        counts = " or ".join(filter(None, (", ".join(map(str, lengths[:-1])), str(lengths[-1]))))
        raise CalibrationError(f"{where['distortion']} must hold {counts} "
                               f"coefficients for {model} model, got {len(distortion)}")
    _check_rotation(rotation, where["rotation"])
    height, width = (int(round(value)) for value in size_hw)
    return Camera(name, (height, width), matrix, distortion, rotation, translation, fisheye)
