"""Qualisys' ``.qca.txt`` calibration (XML) read into a ``CameraRig``, converted as Pose2Sim
converts it (see ``read_qualisys``); there is no writer.

Cameras follow ``Camera``'s convention (see ``calibration_checks``); every problem raises a
one-line ``CalibrationError`` naming the file, the camera and the field.

Shapes: a camera's ``matrix`` (3, 3), ``distortion`` (4,), ``rotation`` (3, 3), ``translation`` (3,).
"""
from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

import numpy as np

from bodyfit.fileio.calibration_checks import _camera
from bodyfit.fileio.names import natural_key
from bodyfit.fileio.cameras import CalibrationError, Camera, CameraRig

QUALISYS_SUBPIXELS = 64.0  # a .qca.txt gives focal lengths and centres in 1/64 px
QUALISYS_TO_OPENCV = np.diag([1.0, -1.0, -1.0])  # pi about the camera's x axis: y and z flip


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
                     key=lambda camera: natural_key(camera.name))
    return CameraRig(cameras, path)


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
