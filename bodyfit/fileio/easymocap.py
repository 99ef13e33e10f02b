"""EasyMocap's calibration, ``intri.yml`` + ``extri.yml`` (OpenCV YAML), read into a
``CameraRig`` and written back, with OpenCV's ``cv2.FileStorage`` (``bodyfit[multiview]``).

Cameras follow ``Camera``'s convention (see ``calibration_checks``); every problem raises a
one-line ``CalibrationError`` naming the file, the camera and the field.

Shapes: ``K_<name>`` (3, 3), ``dist_<name>`` (1, D) or (D, 1) (written (1, 5)), ``Rot_<name>``
(3, 3), ``R_<name>`` (Rodrigues) and ``T_<name>`` (3, 1).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from bodyfit.fileio.atomic import atomic_path
from bodyfit.fileio.calibration_checks import _array, _camera, _rotmat_to_rotvec, _rotvec_to_rotmat, _vector
from bodyfit.fileio.cameras import CalibrationError, Camera, CameraRig, opencv

EASYMOCAP_FILES = ("intri.yml", "extri.yml")


def _opencv():
    return opencv("EasyMocap's intri.yml and extri.yml are read and written with OpenCV")


def _cv_message(error: Exception) -> str:
    """The one-line gist of a cv2.error ("(-212:Parsing error) ... intri.yml(3): Invalid character")."""
    return " ".join(str(error).split("error:")[-1].split())


def _open_yml(path: Path):
    """``path`` opened with ``cv2.FileStorage`` for reading."""
    cv2 = _opencv()
    if not path.is_file():
        raise CalibrationError(f"{path}: no such file (EasyMocap needs intri.yml and extri.yml side by side)")
    try:
        storage = cv2.FileStorage(str(path), cv2.FILE_STORAGE_READ)
    except (cv2.error, SystemError) as error:
        raise CalibrationError(f"{path}: not valid OpenCV YAML: {_cv_message(error.__cause__ or error)}") from None
    if not storage.isOpened():
        raise CalibrationError(f"{path}: OpenCV cannot open it")
    return storage


def _yml_matrix(storage, key: str, path: Path) -> np.ndarray | None:
    """The ``!!opencv-matrix`` ``key``, or None where the file has no such key."""
    node = storage.getNode(key)
    if node.empty():
        return None
    if not node.isMap():
        raise CalibrationError(f"{path}: {key!r} must be an opencv-matrix")
    try:
        return node.mat()
    except _opencv().error as error:  # rows, cols and data disagree
        raise CalibrationError(f"{path}: {key!r} is not a valid opencv-matrix: {_cv_message(error)}") from None


def _yml_names(storage, path: Path) -> list[str]:
    node = storage.getNode("names")
    if node.empty() or not node.isSeq():
        raise CalibrationError(f"{path}: no 'names' list of cameras")
    names = []
    for index in range(node.size()):
        item = node.at(index)
        if not item.isString() or not item.string():
            raise CalibrationError(f"{path}: 'names' item {index} must be a string")
        names.append(item.string())
    return names


def _yml_size(storage, name: str, path: Path) -> tuple[float, float]:
    """(height, width) from ``H_<name>``, ``W_<name>``; (0, 0) where both are absent."""
    nodes = {key: storage.getNode(f"{key}_{name}") for key in ("H", "W")}
    present = [key for key, node in nodes.items() if not node.empty()]
    if not present:
        return 0.0, 0.0
    for key in ("H", "W"):
        if key not in present:
            raise CalibrationError(f"{path}: camera {name!r} has {present[0]}_{name} but no {key}_{name}")
        if not (nodes[key].isInt() or nodes[key].isReal()):
            raise CalibrationError(f"{path}: camera {name!r}: '{key}_{name}' must be a number")
    return nodes["H"].real(), nodes["W"].real()


def read_easymocap(path: Path | str) -> CameraRig:
    """EasyMocap's calibration: ``path`` is the folder or either file. ``intri.yml`` holds
    ``names``, ``K_<name>`` 3x3, ``dist_<name>`` (or ``D_<name>``) 1x5 / 5x1 and, optionally,
    ``H_<name>`` and ``W_<name>`` px; ``extri.yml`` holds ``Rot_<name>`` 3x3 or ``R_<name>``
    Rodrigues 3x1 (``Rot_`` is used where both are), and ``T_<name>`` 3x1 metres, world to camera.

    Without ``H_``/``W_`` the image size is unknown: ``image_size`` is (0, 0), and the multi-view
    input fills it from the images."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    intri_path, extri_path = (folder / name for name in EASYMOCAP_FILES)
    intri, extri = _open_yml(intri_path), _open_yml(extri_path)
    cameras = [_easymocap_camera(name, intri, extri, intri_path, extri_path)
               for name in _yml_names(intri, intri_path)]
    return CameraRig(cameras, folder)


def _yml_field(storage, keys: tuple[str, ...], name: str, path: Path) -> tuple[str, np.ndarray]:
    """The first of ``keys`` that the file holds, and its matrix."""
    for key in keys:
        value = _yml_matrix(storage, key, path)
        if value is not None:
            return key, value
    raise CalibrationError(f"{path}: no {' or '.join(keys)} for camera {name!r}")


def _easymocap_camera(name: str, intri, extri, intri_path: Path, extri_path: Path) -> Camera:
    _, matrix = _yml_field(intri, (f"K_{name}",), name, intri_path)
    dist_key, distortion = _yml_field(intri, (f"dist_{name}", f"D_{name}"), name, intri_path)
    rot_key, rotation = _yml_field(extri, (f"Rot_{name}", f"R_{name}"), name, extri_path)
    _, translation = _yml_field(extri, (f"T_{name}",), name, extri_path)
    intri_where, extri_where = f"{intri_path}: camera {name!r}", f"{extri_path}: camera {name!r}"
    field = {"size": f"{intri_where}: 'H_{name}'/'W_{name}'", "matrix": f"{intri_where}: 'K_{name}'",
             "distortion": f"{intri_where}: {dist_key!r}", "rotation": f"{extri_where}: {rot_key!r}",
             "translation": f"{extri_where}: 'T_{name}'"}
    if rot_key.startswith("Rot_"):
        rotation = _array(rotation, (3, 3), field["rotation"])
    else:
        rotation = _rotvec_to_rotmat(_array(rotation, (3,), field["rotation"]))
    return _camera(name, size_hw=_yml_size(intri, name, intri_path),
                   matrix=_array(matrix, (3, 3), field["matrix"]),
                   distortion=_vector(distortion, field["distortion"]),
                   rotation=rotation, translation=_array(translation, (3,), field["translation"]),
                   fisheye=False, where=field)


def write_easymocap(rig: CameraRig, folder: Path | str) -> None:
    """``rig`` as EasyMocap's ``intri.yml`` (names, K_, dist_ 1x5, H_, W_) and ``extri.yml``
    (names, R_ Rodrigues 3x1, Rot_ 3x3, T_ 3x1) in ``folder``, each file atomically. Four
    coefficients (k1, k2, p1, p2) are written as five (k3 = 0), as EasyMocap expects."""
    folder = Path(folder)
    cv2 = _opencv()
    for camera in rig:
        if camera.fisheye:
            raise CalibrationError(f"{folder}: camera {camera.name!r} is fisheye, which EasyMocap's intri.yml "
                                   f"cannot say; write Pose2Sim's Calib.toml instead")
    with atomic_path(folder / "intri.yml") as tmp:
        storage = _write_names(cv2, tmp, rig.names)
        for camera in rig:
            distortion = camera.distortion
            if len(distortion) < 5:
                distortion = np.concatenate([distortion, np.zeros(5 - len(distortion))])
            storage.write(f"K_{camera.name}", camera.matrix)
            storage.write(f"dist_{camera.name}", distortion.reshape(1, -1))
            storage.write(f"H_{camera.name}", int(camera.image_size[0]))
            storage.write(f"W_{camera.name}", int(camera.image_size[1]))
        storage.release()
    with atomic_path(folder / "extri.yml") as tmp:
        storage = _write_names(cv2, tmp, rig.names)
        for camera in rig:
            storage.write(f"R_{camera.name}", _rotmat_to_rotvec(camera.rotation).reshape(3, 1))
            storage.write(f"Rot_{camera.name}", camera.rotation)
            storage.write(f"T_{camera.name}", camera.translation.reshape(3, 1))
        storage.release()


def _write_names(cv2, path: Path, names: list[str]):
    """A ``cv2.FileStorage`` writing YAML to ``path``, its ``names`` list written."""
    storage = cv2.FileStorage(str(path), cv2.FILE_STORAGE_WRITE | cv2.FILE_STORAGE_FORMAT_YAML)
    storage.write("names", names)
    return storage
