"""Calibration files: round trips through Pose2Sim's TOML and EasyMocap's YAML, Pose2Sim's own
conversion of a real Qualisys file as the oracle for ours, and one test per refused file."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from bodyfit.fileio.calibration import (read_calibration, read_easymocap, write_easymocap,
                                        write_pose2sim_toml)
from bodyfit.fileio.cameras import CalibrationError, Camera, CameraRig

QCA = Path(__file__).parent / "data" / "multiview" / "Calib.qca.txt"

# What Pose2Sim 0.10.49's own converter (calibration.calib_qca_fun, binning_factor 1) makes of
# QCA: fx, fy, cx, cy; distortions k1 k2 p1 p2; Rodrigues rotation; translation (m).
POSE2SIM_QCA = {
    "cam01": ([1681.244873046875, 1681.075439453125, 532.97369384375, 948.137390140625],
              [-0.000721609375, 0.002187234375, 9.5e-06, 1.078125e-05],
              [1.6882754799999993, 1.0483220499999997, -0.41955852000000016],
              [0.3211048899999996, 0.9563320600000009, 2.8907130499999996]),
    "cam02": ([1673.729614265625, 1673.79724121875, 534.494567875, 963.225891109375],
              [-0.000747609375, 0.00213728125, 1.51875e-05, 4.546875e-06],
              [1.34975875, 1.5963809099999993, -1.1983285799999999],
              [-0.11152829000000014, 0.7766184800000001, 3.0675519599999994]),
    "cam03": ([1681.598388671875, 1681.509887703125, 513.20837403125, 955.005126953125],
              [-0.000729765625, 0.00215034375, -8.46875e-06, -8.078125e-06],
              [0.8109654899999995, -2.1972129299999996, 1.3760277799999996],
              [-0.7934803899999995, 0.32283594000000126, 4.353514870000001]),
    "cam04": ([1675.234985359375, 1675.204223640625, 540.106201171875, 964.0302734375],
              [-0.000744265625, 0.002104171875, 4.328125e-06, 3.109375e-06],
              [1.4045571699999995, -1.3887412699999993, 0.42535743000000026],
              [0.5030217200000007, 0.04894934000000107, 4.406564460000002]),
}


def make_camera(name: str, seed: int, distortion: list[float], fisheye: bool = False,
                size: tuple[int, int] = (1080, 1920)) -> Camera:
    rng = np.random.default_rng(seed)
    matrix = np.array([[rng.uniform(800, 1600), 0.0, rng.uniform(900, 1000)],
                       [0.0, rng.uniform(800, 1600), rng.uniform(500, 600)], [0.0, 0.0, 1.0]])
    rotation = Rotation.from_rotvec(rng.normal(size=3)).as_matrix()
    return Camera(name, size, matrix, np.array(distortion), rotation, rng.normal(size=3) * 3, fisheye)


def make_rig(fisheye: bool = True) -> CameraRig:
    cameras = [make_camera("cam_01", 1, [-0.21, 0.05, 1e-3, -2e-3]),
               make_camera("cam 02", 2, [-0.1, 0.02, 3e-4, 5e-4, -0.003], size=(1920, 1088)),
               make_camera("03", 3, [0.3, -0.1, 0.0, 0.0, 0.01, 0.2, -0.05, 0.02])]
    if fisheye:
        cameras.append(make_camera("fish", 4, [0.05, -0.01, 0.002, -0.0004], fisheye=True))
    return CameraRig(cameras)


def assert_same_cameras(read: CameraRig, written: CameraRig, pad_distortion: bool = False) -> None:
    assert read.names == written.names
    for got, want in zip(read, written):
        assert got.image_size == want.image_size and got.fisheye == want.fisheye
        distortion = want.distortion
        if pad_distortion and len(distortion) < 5:
            distortion = np.concatenate([distortion, np.zeros(5 - len(distortion))])
        for attribute, expected in (("matrix", want.matrix), ("distortion", distortion),
                                    ("rotation", want.rotation), ("translation", want.translation)):
            np.testing.assert_allclose(getattr(got, attribute), expected, rtol=0, atol=1e-9, err_msg=attribute)


# ------------------------------------------------------------------------------- round trips

def test_pose2sim_toml_round_trip(tmp_path):
    rig = make_rig()
    write_pose2sim_toml(rig, tmp_path / "Calib.toml")
    back = read_calibration(tmp_path / "Calib.toml")
    assert_same_cameras(back, rig)
    assert back.source == tmp_path / "Calib.toml"
    text = (tmp_path / "Calib.toml").read_text()
    assert "size = [ 1920.0, 1080.0 ]" in text  # Pose2Sim's [width, height]
    assert "[metadata]" in text and list(tmp_path.iterdir()) == [tmp_path / "Calib.toml"]


def test_pose2sim_toml_as_pose2sim_writes_it(tmp_path):
    """Pose2Sim's layout: table keys that are not the names, integer sizes, no fisheye key."""
    (tmp_path / "Calib.toml").write_text(
        '[int_cam1_img]\nname = "cam1"\nsize = [ 1088, 1920]\n'
        'matrix = [ [ 1600.0, 0.0, 540.0], [ 0.0, 1601.0, 960.0], [ 0.0, 0.0, 1.0]]\n'
        'distortions = [ -0.05, 0.1, 0.001, 0.0]\nrotation = [ 0.0, 0.0, 1.5707963267948966]\n'
        'translation = [ 0.5, -0.2, 3.0]\n\n[metadata]\nadjusted = false\nerror = 0.0\n')
    camera = read_calibration(tmp_path / "Calib.toml")["cam1"]
    assert camera.image_size == (1920, 1088) and not camera.fisheye
    np.testing.assert_allclose(camera.rotation, [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-15)


def test_easymocap_round_trip(tmp_path):
    rig = make_rig(fisheye=False)
    write_easymocap(rig, tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["extri.yml", "intri.yml"]
    for path in (tmp_path, tmp_path / "intri.yml", tmp_path / "extri.yml"):
        assert_same_cameras(read_calibration(path), rig, pad_distortion=True)


def test_easymocap_refuses_a_fisheye_camera(tmp_path):
    with pytest.raises(CalibrationError, match="'fish' is fisheye"):
        write_easymocap(make_rig(), tmp_path)
    assert list(tmp_path.iterdir()) == []


EASYMOCAP_INTRI = """%YAML:1.0
---
names:
  - "01"
K_01: !!opencv-matrix
  rows: 3
  cols: 3
  dt: d
  data: [1500.0, 0.0, 960.0, 0.0, 1500.0, 540.0, 0.0, 0.0, 1.0]
dist_01: !!opencv-matrix
  rows: 5
  cols: 1
  dt: d
  data: [-0.1, 0.01, 0.0, 0.0, 0.0]
"""
EASYMOCAP_EXTRI = """%YAML:1.0
---
names:
  - "01"
R_01: !!opencv-matrix
  rows: 3
  cols: 1
  dt: d
  data: [0.0, 3.141592653589793, 0.0]
T_01: !!opencv-matrix
  rows: 3
  cols: 1
  dt: d
  data: [0.1, 1.2, 4.0]
"""


def write_easymocap_text(folder: Path, intri: str = EASYMOCAP_INTRI, extri: str = EASYMOCAP_EXTRI) -> Path:
    (folder / "intri.yml").write_text(intri)
    (folder / "extri.yml").write_text(extri)
    return folder


def test_easymocap_as_easymocap_writes_it(tmp_path):
    """Rodrigues R_ only, dist as a column, no H_/W_: the image size is left unknown, (0, 0)."""
    camera = read_easymocap(write_easymocap_text(tmp_path))["01"]
    assert camera.image_size == (0, 0)
    np.testing.assert_allclose(camera.rotation, np.diag([-1.0, 1.0, -1.0]), atol=1e-12)
    np.testing.assert_allclose(camera.center, [0.1, -1.2, 4.0], atol=1e-12)
    np.testing.assert_allclose(camera.distortion, [-0.1, 0.01, 0, 0, 0])


# ------------------------------------------------------------------------------------ Qualisys

def test_qualisys_matches_pose2sims_conversion():
    rig = read_calibration(QCA)
    assert rig.names == ["cam01", "cam02", "cam03", "cam04"]
    for camera in rig:
        intrinsics, distortion, rotvec, translation = POSE2SIM_QCA[camera.name]
        assert camera.image_size == (1920, 1088)  # the demo's portrait videos, 1088 wide
        np.testing.assert_allclose(camera.intrinsics, intrinsics, rtol=0, atol=1e-9)
        np.testing.assert_allclose(camera.distortion, distortion, rtol=0, atol=1e-12)
        np.testing.assert_allclose(camera.rotation, Rotation.from_rotvec(rotvec).as_matrix(), rtol=0, atol=1e-9)
        np.testing.assert_allclose(camera.translation, translation, rtol=0, atol=1e-9)


def test_qualisys_cameras_look_at_one_capture_volume():
    rig = read_calibration(QCA)
    # Centres are the <transform> positions (mm): cam01's x, y, z.
    np.testing.assert_allclose(rig["cam01"].center, [1.4602323709212087, -1.9091590482454608, 1.8965058524092062])
    # The point nearest all four optical axes (least squares) ...
    normal, right = np.zeros((3, 3)), np.zeros(3)
    for camera in rig:
        off_axis = np.eye(3) - np.outer(camera.rotation[2], camera.rotation[2])
        normal += off_axis
        right += off_axis @ camera.center
    target = np.linalg.solve(normal, right)
    for camera in rig:
        depth = camera.to_camera(target)[2]
        miss = np.linalg.norm(np.cross(target - camera.center, camera.rotation[2]))
        assert 2.0 < depth < 5.0 and miss < 0.15, (camera.name, depth, miss)
        # ... is seen near the image centre, and the world's Z is up in every image.
        pixel = camera.project(target[None])[0]
        assert np.all(np.abs(pixel - camera.matrix[:2, 2]) < 100), (camera.name, pixel)
        above = camera.project((target + [0.0, 0.0, 1.0])[None])[0]
        assert above[1] < pixel[1] - 300, (camera.name, pixel, above)


# ------------------------------------------------------------------------------------- refusals

def refusal(path: Path | str) -> str:
    with pytest.raises(CalibrationError) as caught:
        read_calibration(path)
    message = str(caught.value)
    assert "\n" not in message, message
    return message


TOML_CASES = {
    "matrix 2x3": ("matrix = [ [", "matrix = [ [ 1.0, 0.0, 1.0 ], [ 0.0, 1.0, 1.0 ] ] #", "camera 'cam_01': 'matrix' must be 3x3, got 2x3"),
    "no translation": ("translation = ", "translatio = ", "camera 'cam_01': no 'translation'"),
    "translation 4": ("translation = [ ", "translation = [ 0.0, ", "'translation' must be 3 values, got 4 values"),
    "not finite": ("rotation = [ ", "rotation = [ inf, 0.0, 0.0 ] #", "'rotation' must be finite"),
    "negative focal": ("matrix = [ [ ", "matrix = [ [ -", "'matrix' focal lengths must be positive"),
    "zero focal": ("matrix = [ [ ", "matrix = [ [ 0.0, 0.0, 1.0 ], [ 0.0, 1.0, 1.0 ], [ 0.0, 0.0, 1.0 ] ] #",
                   "'matrix' focal lengths must be positive"),
    "bad distortion": ("distortions = [ ", "distortions = [ 0.1, 0.2, ", "'distortions' must hold 4, 5, 8, 12 or 14 coefficients"),
    "bad fisheye": ("fisheye = false", "fisheye = 1", "'fisheye' must be true or false"),
    "unparsable": ("name = ", "name = = ", "not valid TOML"),
}


@pytest.mark.parametrize("case", TOML_CASES)
def test_toml_refusals_name_file_and_field(tmp_path, case):
    old, new, expected = TOML_CASES[case]
    write_pose2sim_toml(CameraRig([make_camera("cam_01", 1, [0.1, 0.0, 0.0, 0.0])]), tmp_path / "Calib.toml")
    text = (tmp_path / "Calib.toml").read_text()
    assert old in text
    (tmp_path / "Calib.toml").write_text(text.replace(old, new, 1))
    message = refusal(tmp_path / "Calib.toml")
    assert message.startswith(f"{tmp_path / 'Calib.toml'}: ") and expected in message, message


def test_toml_nan_value_refused(tmp_path):
    write_pose2sim_toml(CameraRig([make_camera("cam_01", 1, [0.1, 0.0, 0.0, 0.0])]), tmp_path / "Calib.toml")
    text = (tmp_path / "Calib.toml").read_text()
    start = text.index("translation = [ ") + len("translation = [ ")
    (tmp_path / "Calib.toml").write_text(text[:start] + "nan" + text[text.index(",", start):])
    assert "camera 'cam_01': 'translation' must be finite" in refusal(tmp_path / "Calib.toml")


def test_toml_fisheye_needs_four_coefficients(tmp_path):
    camera = make_camera("cam_01", 1, [0.1, 0.0, 0.0, 0.0, 0.3])
    write_pose2sim_toml(CameraRig([camera]), tmp_path / "Calib.toml")
    text = (tmp_path / "Calib.toml").read_text().replace("fisheye = false", "fisheye = true")
    (tmp_path / "Calib.toml").write_text(text)
    assert "'distortions' must hold 4 coefficients for the fisheye model, got 5" in refusal(tmp_path / "Calib.toml")


def yml_matrix(key: str, rows: int, cols: int, data: list[float]) -> str:
    return f"{key}: !!opencv-matrix\n  rows: {rows}\n  cols: {cols}\n  dt: d\n  data: {data}\n"


def test_easymocap_missing_translation(tmp_path):
    write_easymocap_text(tmp_path, extri=EASYMOCAP_EXTRI.split("T_01")[0])
    assert refusal(tmp_path) == f"{tmp_path / 'extri.yml'}: no T_01 for camera '01'"


def test_easymocap_rotation_that_is_not_one(tmp_path):
    extri = EASYMOCAP_EXTRI + yml_matrix("Rot_01", 3, 3, [2.0, 0, 0, 0, 1, 0, 0, 0, 1])
    write_easymocap_text(tmp_path, extri=extri)
    message = refusal(tmp_path / "extri.yml")
    assert message.startswith(f"{tmp_path / 'extri.yml'}: camera '01': 'Rot_01' is not a rotation"), message


def test_easymocap_bad_shapes_and_values(tmp_path):
    write_easymocap_text(tmp_path, intri=EASYMOCAP_INTRI.replace("rows: 3\n  cols: 3", "rows: 1\n  cols: 9"))
    assert "intri.yml: camera '01': 'K_01' must be 3x3, got 1x9" in refusal(tmp_path)
    write_easymocap_text(tmp_path, intri=EASYMOCAP_INTRI.replace("[1500.0,", "[.nan,"))
    assert "intri.yml: camera '01': 'K_01' must be finite" in refusal(tmp_path)
    write_easymocap_text(tmp_path, intri=EASYMOCAP_INTRI.replace("rows: 5", "rows: 4"))
    assert refusal(tmp_path).startswith(f"{tmp_path / 'intri.yml'}: 'dist_01' is not a valid opencv-matrix")
    write_easymocap_text(tmp_path, intri=EASYMOCAP_INTRI + "H_01: 1080\n")
    assert "intri.yml: camera '01' has H_01 but no W_01" in refusal(tmp_path)


def test_easymocap_unparsable_and_missing_files(tmp_path):
    write_easymocap_text(tmp_path, intri='%YAML:1.0\n---\nnames: [ "01\n')
    message = refusal(tmp_path)
    assert message.startswith(f"{tmp_path / 'intri.yml'}: not valid OpenCV YAML"), message
    (tmp_path / "intri.yml").unlink()
    assert refusal(tmp_path / "extri.yml").startswith(f"{tmp_path / 'intri.yml'}: no such file")
    write_easymocap_text(tmp_path, intri=EASYMOCAP_INTRI.replace("names", "cameras"))
    assert refusal(tmp_path) == f"{tmp_path / 'intri.yml'}: no 'names' list of cameras"


QCA_CASES = {
    "unparsable": ('<cameras>', '<cameras', "not valid XML"),
    "no attribute": ('focalLengthU="107599.671875" ', '', "camera 'cam01': <intrinsic> has no 'focalLengthU'"),
    "not a number": ('x="1460.2323709212087"', 'x="east"', "camera 'cam01': <transform> 'x' must be a number"),
    "not finite": ('x="1460.2323709212087"', 'x="nan"', "camera 'cam01': <transform> 'x' must be finite"),
    "zero focal": ('focalLengthU="107599.671875"', 'focalLengthU="0"',
                   "camera 'cam01': <intrinsic> focalLengthU/V focal lengths must be positive"),
    "not a rotation": ('r11="0.5536380477336265"', 'r11="-0.5536380477336265"',
                       "camera 'cam01': <transform> r11..r33 is not a rotation"),
    "no transform": ('<transform r11="0.5536380477336265"', '<transfrm r11="0.5536380477336265"',
                     "camera 'cam01': no <transform>"),
    "view rotation": ('serial="cam02" viewrotation="0"', 'serial="cam02" viewrotation="90"',
                      "camera 'cam02': 'viewrotation' 90 is not supported"),
}


@pytest.mark.parametrize("case", QCA_CASES)
def test_qualisys_refusals_name_file_and_field(tmp_path, case):
    old, new, expected = QCA_CASES[case]
    text = QCA.read_text()
    assert old in text
    path = tmp_path / "Calib.qca.txt"
    path.write_text(text.replace(old, new, 1))
    message = refusal(path)
    assert message.startswith(f"{path}: ") and expected in message, message


def test_missing_files_and_unknown_formats(tmp_path):
    for name in ("Calib.toml", "Calib.qca.txt"):
        assert refusal(tmp_path / name) == f"{tmp_path / name}: no such file"
    assert "no such calibration file or folder" in refusal(tmp_path / "nothing")
    shutil.copy(QCA, tmp_path / "calib.xml")
    message = refusal(tmp_path / "calib.xml")
    assert message.startswith(f"{tmp_path / 'calib.xml'}: not a calibration format") and "qca.txt" in message
