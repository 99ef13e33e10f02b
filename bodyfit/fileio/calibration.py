"""Multi-camera calibrations read into a ``CameraRig``, the format told from the path
(``read_calibration``): Pose2Sim's ``Calib.toml`` (read and written here), EasyMocap's
``intri.yml`` + ``extri.yml`` (``easymocap``, read and written) and Qualisys' ``.qca.txt``
(``qualisys``, read only). The format modules' readers and writers are importable from here too.

Every camera comes out in ``Camera``'s convention: OpenCV axes (x right, y down, z forward),
world to camera (``R X + t``), metres, ``image_size`` (height, width) px. Every problem raises a
one-line ``CalibrationError`` naming the file, the camera and the field (checks shared by the
formats: ``calibration_checks``).

Shapes: a camera's ``matrix`` (3, 3), ``distortion`` (D,), ``rotation`` (3, 3), ``translation`` (3,).
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from bodyfit.fileio.atomic import write_text_atomic
from bodyfit.fileio.calibration_checks import _array, _camera, _rotmat_to_rotvec, _rotvec_to_rotmat, _vector
from bodyfit.fileio.cameras import CalibrationError, Camera, CameraRig
from bodyfit.fileio.easymocap import EASYMOCAP_FILES, read_easymocap, write_easymocap
from bodyfit.fileio.qualisys import read_qualisys

try:
    import tomllib
except ImportError:  # python 3.10
    import tomli as tomllib

__all__ = ["FORMATS", "read_calibration", "read_easymocap", "read_pose2sim_toml", "read_qualisys",
           "write_easymocap", "write_pose2sim_toml"]

FORMATS = ("Pose2Sim Calib.toml (*.toml), EasyMocap intri.yml + extri.yml (their folder or either file), "
           "Qualisys *.qca.txt")
TOML_FIELDS = ("size", "matrix", "distortions", "rotation", "translation")


def read_calibration(path: Path | str) -> CameraRig:
    """The cameras of a calibration, the format chosen by the path: ``*.toml`` (Pose2Sim),
    a folder holding ``intri.yml`` + ``extri.yml`` or either file (EasyMocap), ``*.qca.txt``
    (Qualisys)."""
    path = Path(path)
    name = path.name.lower()
    if path.is_dir() or name in EASYMOCAP_FILES:
        return read_easymocap(path)
    if name.endswith(".toml"):
        return read_pose2sim_toml(path)
    if name.endswith(".qca.txt"):
        return read_qualisys(path)
    if not path.exists():
        raise CalibrationError(f"{path}: no such calibration file or folder (formats known: {FORMATS})")
    raise CalibrationError(f"{path}: not a calibration format bodyfit reads (formats known: {FORMATS})")


# ------------------------------------------------------------------------ Pose2Sim Calib.toml

def read_pose2sim_toml(path: Path | str) -> CameraRig:
    """Pose2Sim's ``Calib.toml``: a table per camera (its key arbitrary; ``[metadata]`` skipped)
    with ``name`` (the key if absent), ``size`` [width, height] px (rounded to whole pixels),
    ``matrix`` 3x3, ``distortions`` [k1, k2, p1, p2, ...], ``rotation`` (3,) Rodrigues and
    ``translation`` (3,) metres, world to camera, ``fisheye`` (false if absent)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise CalibrationError(f"{path}: no such file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise CalibrationError(f"{path}: not valid TOML: {error}") from None
    cameras = []
    for key, table in data.items():
        if key == "metadata":
            continue
        if not isinstance(table, dict):
            raise CalibrationError(f"{path}: {key!r} must be a camera table, got {type(table).__name__}")
        cameras.append(_toml_camera(key, table, path))
    return CameraRig(cameras, path)


def _toml_camera(key: str, table: dict[str, Any], path: Path) -> Camera:
    name = table.get("name", key)
    if not isinstance(name, str) or not name:
        raise CalibrationError(f"{path}: camera {key!r}: 'name' must be a string, got {name!r}")
    where = f"{path}: camera {name!r}"
    missing = [field for field in TOML_FIELDS if field not in table]
    if missing:
        raise CalibrationError(f"{where}: no {missing[0]!r}")
    fisheye = table.get("fisheye", False)
    if not isinstance(fisheye, bool):
        raise CalibrationError(f"{where}: 'fisheye' must be true or false, got {fisheye!r}")
    field = {field_name: f"{where}: {field_name!r}" for field_name in TOML_FIELDS}
    field["distortion"] = field["distortions"]
    width, height = _array(table["size"], (2,), field["size"])
    return _camera(name, size_hw=(height, width),
                   matrix=_array(table["matrix"], (3, 3), field["matrix"]),
                   distortion=_vector(table["distortions"], field["distortions"]),
                   rotation=_rotvec_to_rotmat(_array(table["rotation"], (3,), field["rotation"])),
                   translation=_array(table["translation"], (3,), field["translation"]),
                   fisheye=fisheye, where=field)


def _toml_float(value: float) -> str:
    return repr(float(value))  # the shortest text that reads back to the same float


def _toml_list(values: np.ndarray) -> str:
    values = np.asarray(values)
    if values.ndim == 2:
        return "[ " + ", ".join(_toml_list(row) for row in values) + " ]"
    return "[ " + ", ".join(_toml_float(value) for value in values) + " ]"


def _toml_key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)


def write_pose2sim_toml(rig: CameraRig, path: Path | str) -> None:
    """``rig`` as Pose2Sim's ``Calib.toml`` (one table per camera, then ``[metadata]``), atomically.
    Floats are written in full (each reads back bit for bit)."""
    tables = []
    for camera in rig:
        if camera.name == "metadata":
            raise CalibrationError(f"{path}: a camera named 'metadata' would be read as Pose2Sim's metadata table")
        height, width = camera.image_size
        tables.append("\n".join([
            f"[{_toml_key(camera.name)}]",
            f"name = {json.dumps(camera.name)}",
            f"size = {_toml_list(np.array([width, height], dtype=np.float64))}",
            f"matrix = {_toml_list(camera.matrix)}",
            f"distortions = {_toml_list(camera.distortion)}",
            f"rotation = {_toml_list(_rotmat_to_rotvec(camera.rotation))}",
            f"translation = {_toml_list(camera.translation)}",
            f"fisheye = {'true' if camera.fisheye else 'false'}",
        ]) + "\n")
    tables.append("[metadata]\nadjusted = false\nerror = 0.0\n")
    write_text_atomic(path, "\n".join(tables))
