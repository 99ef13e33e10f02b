"""Multi-camera calibrations: Pose2Sim's ``Calib.toml``, EasyMocap's ``intri.yml`` + ``extri.yml``
and Qualisys' ``.qca.txt`` read into a ``CameraRig``; the first two written back.

Every camera comes out in ``Camera``'s convention: OpenCV axes (x right, y down, z forward),
world to camera (``R X + t``), metres, ``image_size`` (height, width) px. Every problem raises a
one-line ``CalibrationError`` naming the file, the camera and the field.

Shapes: a camera's ``matrix`` (3, 3), ``distortion`` (D,), ``rotation`` (3, 3), ``translation`` (3,).
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import numpy as np
from scipy.spatial.transform import Rotation

from bodyfit.fileio.atomic import atomic_path, write_text_atomic
from bodyfit.fileio.cameras import CalibrationError, Camera, CameraRig

try:
    import tomllib
except ImportError:  # python 3.10
    import tomli as tomllib

FORMATS = ("Pose2Sim Calib.toml (*.toml), EasyMocap intri.yml + extri.yml (their folder or either file), "
           "Qualisys *.qca.txt")
EASYMOCAP_FILES = ("intri.yml", "extri.yml")
TOML_FIELDS = ("size", "matrix", "distortions", "rotation", "translation")
DISTORTION_LENGTHS = (4, 5, 8, 12, 14)  # what OpenCV's standard model takes; the fisheye one takes 4
QUALISYS_SUBPIXELS = 64.0  # a .qca.txt gives focal lengths and centres in 1/64 px
QUALISYS_TO_OPENCV = np.diag([1.0, -1.0, -1.0])  # pi about the camera's x axis: y and z flip


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


# ---------------------------------------------------------------- checks shared by the readers

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


# ---------------------------------------------------------------- EasyMocap intri.yml + extri.yml

def _opencv():
    try:
        import cv2
    except ImportError:
        raise CalibrationError("EasyMocap's intri.yml and extri.yml are read and written with OpenCV: "
                               "pip install 'bodyfit[multiview]'") from None
    return cv2


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


# ----------------------------------------------------------------------------- Qualisys .qca.txt

def read_qualisys(path: Path | str) -> CameraRig:
    """Qualisys' ``.qca.txt`` (XML), converted the way Pose2Sim 0.10.49 converts it
    (``Pose2Sim.calibration.calib_qca_fun`` with ``binning_factor`` 1):

    - cameras: the ``<camera>``s whose ``model`` contains "video" or "none" (marker-only
      cameras are skipped), named by ``serial``, in natural order (cam2 before cam10);
    - image size: ``<fov_video>`` width ``right - left + 1``, height ``bottom - top + 1`` px;
    - ``<intrinsic>``: ``focalLengthU/V`` and ``centerPointU/V`` are in 1/64 px of the sensor:
      divided by 64, and the centre is moved by the video window's ``left``/``top``. The
      distortion is [k1, k2, p1, p2] = ``radialDistortion1, 2``, ``tangentalDistortion1, 2``
      divided by 64 too, as Pose2Sim does (``radialDistortion3`` and ``skew`` are dropped);
    - ``<transform>``: ``x, y, z`` is the camera centre in the world, mm (divided by 1000);
      ``r11..r33`` read row by row is N, world to Qualisys camera axes; Qualisys' camera y and z
      point opposite to OpenCV's (a turn of pi about x): rotation ``R = diag(1, -1, -1) N``,
      ``t = -R centre``. The world stays Qualisys' (Z up).

    Pose2Sim turns no camera for portrait video: the file must already describe the video as
    recorded (Pose2Sim's portrait demo ships a ``calibration_qca_rotated`` file, 1088x1920). A
    camera whose ``viewrotation`` is not 0 is refused, since Pose2Sim would silently ignore it.
    A binned video (Pose2Sim's ``binning_factor``) is not read."""
    path = Path(path)
    try:
        root = ElementTree.parse(path).getroot()
    except FileNotFoundError:
        raise CalibrationError(f"{path}: no such file") from None
    except ElementTree.ParseError as error:
        raise CalibrationError(f"{path}: not valid XML: {error}") from None
    elements = root.findall("cameras/camera")
    if not elements:
        raise CalibrationError(f"{path}: no <cameras>/<camera> element")
    video = [element for element in elements
             if any(kind in element.get("model", "").lower() for kind in ("video", "none"))]
    if not video:
        raise CalibrationError(f"{path}: no video camera (every <camera>'s model is a marker camera's)")
    cameras = sorted((_qualisys_camera(element, path) for element in video),
                     key=lambda camera: _natural_key(camera.name))
    return CameraRig(cameras, path)


def _natural_key(text: str) -> list[str | int]:
    """'cam10' after 'cam2': digit runs compare as numbers."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


def _qca_child(element: ElementTree.Element, tag: str, where: str) -> ElementTree.Element:
    child = element.find(tag)
    if child is None:
        raise CalibrationError(f"{where}: no <{tag}>")
    return child


def _qca_number(element: ElementTree.Element, key: str, where: str) -> float:
    text = element.get(key)
    if text is None:
        raise CalibrationError(f"{where}: <{element.tag}> has no {key!r}")
    try:
        value = float(text)
    except ValueError:
        raise CalibrationError(f"{where}: <{element.tag}> {key!r} must be a number, got {text!r}") from None
    if not np.isfinite(value):
        raise CalibrationError(f"{where}: <{element.tag}> {key!r} must be finite, got {text!r}")
    return value


def _qualisys_camera(element: ElementTree.Element, path: Path) -> Camera:
    name = element.get("serial")
    if not name:
        raise CalibrationError(f"{path}: a <camera> has no 'serial'")
    where = f"{path}: camera {name!r}"
    if element.get("viewrotation", "0").strip() not in ("0", "0.0", ""):
        raise CalibrationError(f"{where}: 'viewrotation' {element.get('viewrotation')} is not supported: "
                               f"rotate the calibration to the video as recorded (viewrotation 0)")
    fov = _qca_child(element, "fov_video", where)
    left, top, right, bottom = (_qca_number(fov, key, where) for key in ("left", "top", "right", "bottom"))
    intrinsic = _qca_child(element, "intrinsic", where)
    fu, fv, cu, cv = (_qca_number(intrinsic, key, where) / QUALISYS_SUBPIXELS
                      for key in ("focalLengthU", "focalLengthV", "centerPointU", "centerPointV"))
    distortion = [_qca_number(intrinsic, key, where) / QUALISYS_SUBPIXELS for key in
                  ("radialDistortion1", "radialDistortion2", "tangentalDistortion1", "tangentalDistortion2")]
    transform = _qca_child(element, "transform", where)
    world_to_qualisys = np.array([[_qca_number(transform, f"r{row}{col}", where) for col in (1, 2, 3)]
                                  for row in (1, 2, 3)])
    center = np.array([_qca_number(transform, axis, where) for axis in "xyz"]) / 1000.0
    rotation = QUALISYS_TO_OPENCV @ world_to_qualisys
    return _camera(name, size_hw=(bottom - top + 1, right - left + 1),
                   matrix=np.array([[fu, 0.0, cu - left], [0.0, fv, cv - top], [0.0, 0.0, 1.0]]),
                   distortion=np.array(distortion), rotation=rotation, translation=-rotation @ center,
                   fisheye=False,
                   where={"size": f"{where}: <fov_video>", "matrix": f"{where}: <intrinsic> focalLengthU/V",
                          "distortion": f"{where}: <intrinsic> distortion", "rotation": f"{where}: <transform> r11..r33"})
