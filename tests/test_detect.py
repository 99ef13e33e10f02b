"""Built-in keypoint detection: MediaPipe-to-OpenPose tables, crops, real photographs, the
``python -m detect`` and ``fit.py`` (without --keypoints) command lines."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from fileio.layout import BODY25_NAMES, OPENPOSE
from detect import mediapipe_map
from detect.holistic import Crop, grow, overlap_fraction, paint, square_crop

from tests.conftest import REPO

PHOTOS = REPO / "examples" / "photos"

# BODY_25 point -> BlazePose landmark name(s), written from the two formats' documentation.
BODY25_BY_NAME = {
    "Nose": "NOSE", "Neck": ("LEFT_SHOULDER", "RIGHT_SHOULDER"), "RShoulder": "RIGHT_SHOULDER",
    "RElbow": "RIGHT_ELBOW", "RWrist": "RIGHT_WRIST", "LShoulder": "LEFT_SHOULDER", "LElbow": "LEFT_ELBOW",
    "LWrist": "LEFT_WRIST", "MidHip": ("LEFT_HIP", "RIGHT_HIP"), "RHip": "RIGHT_HIP", "RKnee": "RIGHT_KNEE",
    "RAnkle": "RIGHT_ANKLE", "LHip": "LEFT_HIP", "LKnee": "LEFT_KNEE", "LAnkle": "LEFT_ANKLE",
    "REye": "RIGHT_EYE", "LEye": "LEFT_EYE", "REar": "RIGHT_EAR", "LEar": "LEFT_EAR",
    "LBigToe": "LEFT_FOOT_INDEX", "LSmallToe": None, "LHeel": "LEFT_HEEL",
    "RBigToe": "RIGHT_FOOT_INDEX", "RSmallToe": None, "RHeel": "RIGHT_HEEL",
}
# OpenPose's hand order: wrist, then each finger from base to tip.
HAND_ORDER = ["WRIST"] + [f"{finger}_{joint}" for finger, joints in (
    ("THUMB", ("CMC", "MCP", "IP", "TIP")), ("INDEX_FINGER", ("MCP", "PIP", "DIP", "TIP")),
    ("MIDDLE_FINGER", ("MCP", "PIP", "DIP", "TIP")), ("RING_FINGER", ("MCP", "PIP", "DIP", "TIP")),
    ("PINKY", ("MCP", "PIP", "DIP", "TIP"))) for joint in joints]
# Face boxes (x0, y0, x1, y1) drawn by hand around each face in the photographs.
FACE_BOXES = {"astronaut.jpg": (155, 55, 295, 205), "grace_hopper.jpg": (140, 120, 380, 370),
              "footballer.jpg": (215, 88, 270, 142)}


def test_body_table_point_by_point():
    mediapipe = pytest.importorskip("mediapipe")
    landmark = mediapipe.solutions.pose.PoseLandmark
    assert len(mediapipe_map.BODY25_FROM_POSE) == len(BODY25_NAMES) == 25
    for name, expected in BODY25_BY_NAME.items():
        entry = mediapipe_map.BODY25_FROM_POSE[OPENPOSE[name]]
        if expected is None:
            assert entry is None, name
        elif isinstance(expected, tuple):
            assert sorted(entry) == sorted(landmark[e].value for e in expected), name
        else:
            assert entry == landmark[expected].value, name


def test_body25_values_and_confidences():
    rng = np.random.default_rng(0)
    pose = np.concatenate([rng.uniform(0, 500, (33, 2)), rng.uniform(0, 1, (33, 1))], axis=1)
    body = mediapipe_map.body25(pose)
    assert np.allclose(body[OPENPOSE["RWrist"]], pose[16])
    assert np.allclose(body[OPENPOSE["Neck"], :2], pose[[11, 12], :2].mean(axis=0))
    assert body[OPENPOSE["Neck"], 2] == pose[[11, 12], 2].min()
    assert np.all(body[[OPENPOSE["LSmallToe"], OPENPOSE["RSmallToe"]]] == 0)
    with pytest.raises(ValueError, match="33"):
        mediapipe_map.body25(pose[:20])


def test_hand_table_point_by_point():
    mediapipe = pytest.importorskip("mediapipe")
    landmark = mediapipe.solutions.hands.HandLandmark
    assert [landmark(i).name for i in mediapipe_map.HAND21_FROM_HAND] == HAND_ORDER
    hand = np.arange(42, dtype=float).reshape(21, 2)
    mapped = mediapipe_map.hand21(hand, 0.7)
    assert np.array_equal(mapped[:, :2], hand) and np.all(mapped[:, 2] == 0.7)
    assert np.all(mediapipe_map.hand21(None, 0.7) == 0)


def test_face_table_structure():
    table = mediapipe_map.FACE70_FROM_FACE_MESH
    assert len(table) == 70
    flat = [i for entry in table for i in (entry if isinstance(entry, tuple) else (entry,))]
    assert all(0 <= i < mediapipe_map.FACE_MESH_LANDMARKS for i in flat)
    assert table[68] == 468 and table[69] == 473  # iris centres: pupils
    unrefined = mediapipe_map.face70(np.zeros((468, 2)), 0.8)
    assert np.all(unrefined[68:, 2] == 0) and np.all(unrefined[:68, 2] == 0.8)


def test_square_crop_maps_back_to_image_pixels():
    image = np.zeros((100, 200, 3), np.uint8)
    image[40:60, 175:185] = 255
    crop = square_crop(image, np.array([190.0, 50.0]), 40, min_side=160)  # window x 170-210, y 30-70
    assert crop.pixels.shape == (160, 160, 3) and crop.scale == 4.0
    ys, xs = np.nonzero(crop.pixels[..., 0] > 127)
    corners = crop.to_image(np.array([[xs.min(), ys.min()], [xs.max() + 1, ys.max() + 1]]) / 160.0)
    assert np.allclose(corners, [[175, 40], [185, 60]], atol=1.0)
    # the part outside the image (x >= 200) is padded with the mean colour
    assert np.all(crop.pixels[:, -30:] == image.reshape(-1, 3).mean(axis=0).astype(np.uint8))
    whole = Crop(image, np.zeros(2), 1.0)
    assert np.allclose(whole.to_image(np.array([[0.5, 0.5]])), [[100, 50]])


def test_boxes_paint_and_overlap():
    box = np.array([10.0, 10.0, 30.0, 50.0])
    assert np.allclose(grow(box, 0.5), [0, -10, 40, 70])
    assert overlap_fraction(box, box) == pytest.approx(1.0)
    assert overlap_fraction(box, np.array([20.0, 10.0, 60.0, 50.0])) == pytest.approx(0.5)
    image = np.zeros((60, 60, 3), np.uint8)
    paint(image, np.array([0.0, 0.0, 40.0, 40.0]), np.array([9, 9, 9], np.uint8), keep=np.array([10.0, 10.0, 20.0, 20.0]))
    assert image[5, 5, 0] == 9 and image[15, 15, 0] == 0 and image[50, 50, 0] == 0


@pytest.fixture(scope="module")
def detections():
    pytest.importorskip("mediapipe")
    from detect.config import load_detect_config
    from detect.holistic import HolisticDetector
    from fileio.images import read_image

    with HolisticDetector(load_detect_config()) as detector:
        yield {path.name: (read_image(path), detector.detect(read_image(path)))
               for path in sorted(PHOTOS.glob("*.jpg"))}


def point(keypoints, name):
    row = keypoints.body[OPENPOSE[name]]
    assert row[2] > 0.3, f"{name} not detected"
    return row[:2]


@pytest.mark.slow
def test_one_person_per_portrait_with_face_in_its_box(detections):
    for name, box in FACE_BOXES.items():
        image, found = detections[name]
        assert len(found) == 1, name
        face = found[0].keypoints.face
        seen = face[face[:, 2] > 0, :2]
        assert len(seen) == 70, name
        assert np.all((seen >= box[:2]) & (seen <= box[2:])), name
        right_eye, left_eye = face[36:42, :2].mean(axis=0), face[42:48, :2].mean(axis=0)
        mouth, nose_tip = face[48:60, :2].mean(axis=0), face[30, :2]
        # facing the camera: the subject's right eye is on the image's left
        assert right_eye[0] < nose_tip[0] < left_eye[0], name
        assert max(right_eye[1], left_eye[1]) < nose_tip[1] < mouth[1], name
        assert np.all(np.diff(face[:17, 0]) > -3), f"{name}: jaw line not left to right"
        for pupil, eye in ((68, range(36, 42)), (69, range(42, 48))):
            lo, hi = face[list(eye), :2].min(axis=0), face[list(eye), :2].max(axis=0)
            assert np.all((face[pupil, :2] >= lo - 2) & (face[pupil, :2] <= hi + 2)), name
        nose = point(found[0].keypoints, "Nose")
        assert np.all((nose >= box[:2]) & (nose <= box[2:])), name
        assert point(found[0].keypoints, "RShoulder")[0] < point(found[0].keypoints, "LShoulder")[0], name
        assert point(found[0].keypoints, "Neck")[1] > nose[1], name


@pytest.mark.slow
def test_full_body_footballer(detections):
    _, found = detections["footballer.jpg"]
    person = found[0].keypoints
    # facing the camera, right arm stretched to the image's left, left leg kicking to the right
    assert point(person, "RWrist")[0] < point(person, "RShoulder")[0] < point(person, "LShoulder")[0] < point(person, "LWrist")[0]
    assert point(person, "LAnkle")[0] > point(person, "RAnkle")[0]
    for upper, lower in (("Neck", "MidHip"), ("MidHip", "RKnee"), ("RKnee", "RAnkle"), ("Nose", "Neck")):
        assert point(person, upper)[1] < point(person, lower)[1], (upper, lower)
    # both hands found on crops around the wrists, each at its own wrist
    assert found[0].hand_sources == {"left_hand": "crop", "right_hand": "crop"}
    for hand, side, other in ((person.left_hand, "L", "R"), (person.right_hand, "R", "L")):
        wrist, elbow = point(person, side + "Wrist"), point(person, side + "Elbow")
        forearm = np.linalg.norm(wrist - elbow)
        assert np.linalg.norm(hand[0, :2] - wrist) < forearm, side
        assert np.linalg.norm(hand[0, :2] - point(person, other + "Wrist")) > 3 * forearm, side
        # the hand points away from the elbow: middle fingertip further out than the wrist
        assert np.linalg.norm(hand[12, :2] - elbow) > np.linalg.norm(hand[0, :2] - elbow), side


@pytest.mark.slow
def test_two_people_standing(detections):
    image, found = detections["basketball.jpg"]
    assert len(found) == 2
    centres = sorted((box[0] + box[2]) / 2 for box in (d.box for d in found))
    assert centres[0] < image.shape[1] / 3 and centres[1] > 2 * image.shape[1] / 3
    standing = min(found, key=lambda d: d.box[0]).keypoints
    for upper, lower in (("Nose", "Neck"), ("Neck", "MidHip"), ("MidHip", "LKnee"), ("LKnee", "LAnkle"),
                         ("RKnee", "RAnkle"), ("RShoulder", "RWrist")):
        assert point(standing, upper)[1] < point(standing, lower)[1], (upper, lower)
    assert point(standing, "RShoulder")[0] < point(standing, "LShoulder")[0]
    assert point(standing, "RHip")[0] < point(standing, "LHip")[0]


def run(*args: str, cwd=REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=600)


def folder_with_footballer(tmp_path):
    pytest.importorskip("mediapipe")
    images = tmp_path / "images"
    images.mkdir()
    (images / "footballer.jpg").write_bytes((PHOTOS / "footballer.jpg").read_bytes())
    return images


@pytest.mark.slow
def test_detect_command_reports_and_resumes(tmp_path):
    from PIL import Image

    images = folder_with_footballer(tmp_path)
    Image.new("RGB", (320, 240), (90, 140, 200)).save(images / "sky.png")
    (images / "broken.jpg").write_bytes(b"not an image")
    out = tmp_path / "keypoints"
    result = run("-m", "detect", "--images", str(images), "--output", str(out), "--draw", str(tmp_path / "draw"))
    assert result.returncode == 1, result.stderr  # the broken image
    assert "broken.jpg" in result.stderr and "sky.png: nobody found" in result.stderr
    people = json.loads((out / "footballer_keypoints.json").read_text())["people"]
    assert len(people) == 1 and len(people[0]["pose_keypoints_2d"]) == 75
    assert json.loads((out / "sky_keypoints.json").read_text())["people"] == []
    assert (tmp_path / "draw" / "footballer.png").is_file()
    again = run("-m", "detect", "--images", str(images), "--output", str(out))
    assert again.returncode == 1 and "2 already done" in again.stderr  # only the broken image is retried


@pytest.mark.slow
def test_fit_without_keypoints_detects_then_fits(tmp_path):
    images = folder_with_footballer(tmp_path)
    out = tmp_path / "out"
    result = run("fit.py", "--images", str(images), "--output", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    assert len(json.loads((out / "keypoints" / "footballer_keypoints.json").read_text())["people"]) == 1
    record = json.loads((out / "results" / "footballer" / "image.json").read_text())
    assert record["status"] == "ok" and record["people"][0]["status"] == "ok"
    assert record["people"][0]["reprojection_error_px"] < 10
    assert (out / "images" / "footballer.png").is_file()
