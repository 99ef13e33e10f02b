"""Built-in keypoint detection: MediaPipe-to-OpenPose tables, crops, the person finder's
geometry (tiles, suppression, one person or two), real photographs with one and with several
people (counted by hand), the ``python -m detect`` and ``fit.py`` (without --keypoints)
command lines."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from bodyfit.resources import config_path
from bodyfit.fileio.keypoint_layout import BODY25_NAMES, OPENPOSE
from bodyfit.detect import mediapipe_map
from bodyfit.detect.config import DetectConfig, load_detect_config
from bodyfit.detect.counting import VisiblePerson, match_people, read_people_counts
from bodyfit.detect.crops import head_window
from bodyfit.detect.holistic import Crop, grow, overlap_fraction, paint, square_crop
from bodyfit.detect.landmarks import Landmarks, head_box, same_person
from bodyfit.detect.proposals import Proposal, box_iou, face_person_box, non_max_suppression, tile_windows

from tests.conftest import REPO

PHOTOS = REPO / "examples" / "photos"
GROUPS = REPO / "benchmarks" / "data" / "people"

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
def detector():
    """The detector with cfg/detect.yaml, models loaded once for this module."""
    pytest.importorskip("mediapipe")
    from bodyfit.detect.holistic import HolisticDetector

    with HolisticDetector(load_detect_config()) as loaded:
        yield loaded


@pytest.fixture(scope="module")
def detections(detector):
    from bodyfit.fileio.images import read_image

    return {path.name: (read_image(path), detector.detect(read_image(path))) for path in sorted(PHOTOS.glob("*.jpg"))}


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


# Photos with several people, and how many of those counted by hand (people.json) must be
# found: everyone (vtest_600's six include a woman cut by the bottom edge).
GROUP_PHOTOS = ("pilots.jpg", "vtest_600.jpg")


@pytest.fixture(scope="module")
def group_detections(detector):
    from bodyfit.fileio.images import read_image

    return {name: detector.detect(read_image(GROUPS / name)) for name in GROUP_PHOTOS}


@pytest.mark.slow
def test_everyone_visible_is_found_once(group_detections):
    counts = read_people_counts(GROUPS / "people.json")
    for name, found in group_detections.items():
        match = match_people([d.box for d in found], counts[name])
        missed = [p.note for p, index in zip(counts[name], match.found) if index < 0]
        assert not missed, f"{name}: missed {missed}"
        # nobody found twice and nothing that is not a person: every detection is someone counted
        assert not match.extra, f"{name}: detections {[found[i].box for i in match.extra]} match nobody"


@pytest.mark.slow
def test_side_by_side_waist_up_people_are_two(group_detections):
    found = group_detections["pilots.jpg"]
    assert len(found) == 2
    left, right = sorted(found, key=lambda d: d.box[0])
    # both faces found, each in its own person's face region, the left one left of the right one
    for detection in (left, right):
        assert np.count_nonzero(detection.keypoints.face[:, 2]) == 70
    left_face, right_face = left.keypoints.face[:68, :2].mean(axis=0), right.keypoints.face[:68, :2].mean(axis=0)
    assert 95 < left_face[0] < 140 and 150 < right_face[0] < 195, (left_face, right_face)
    assert np.linalg.norm(left_face - right_face) > 40  # about a head and a half apart


def test_masking_finder_is_still_selectable():
    pytest.importorskip("mediapipe")
    from dataclasses import replace

    from bodyfit.detect.holistic import HolisticDetector
    from bodyfit.fileio.images import read_image

    with HolisticDetector(replace(load_detect_config(), finder="masking")) as detector:
        assert detector.finder._models is None
        found = detector.detect(read_image(PHOTOS / "footballer.jpg"))
    assert len(found) == 1


def test_tiny_and_thin_images_find_nobody_without_crashing(detector):
    rng = np.random.default_rng(0)
    for shape in ((1, 1, 3), (3, 3, 3), (50, 400, 3), (400, 2, 3)):  # OpenCV's HOG once corrupted memory here
        assert detector.detect(rng.integers(0, 255, shape, dtype=np.uint8)) == [], shape


def test_a_detector_failure_fails_one_image_not_the_folder(tmp_path, monkeypatch):
    from PIL import Image

    from bodyfit.detect import folder

    class Failing:
        """Stands in for the detector: raises on the image painted red, finds nobody elsewhere."""

        def __init__(self, config):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            pass

        def detect(self, image):
            if image[..., 0].mean() > 200:
                raise RuntimeError("model failed")
            return []

    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (64, 48), (250, 0, 0)).save(images / "a_red.png")
    Image.new("RGB", (64, 48), (0, 0, 250)).save(images / "b_blue.png")
    monkeypatch.setattr(folder, "HolisticDetector", Failing)
    report = folder.detect_folder(images, tmp_path / "out", load_detect_config())
    assert report.images["a_red"]["status"] == "failed" and "model failed" in report.images["a_red"]["reason"]
    assert "a_red.png" in report.images["a_red"]["reason"]
    assert report.images["b_blue"]["status"] == "nobody"
    assert (tmp_path / "out" / "b_blue_keypoints.json").is_file()


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
    result = run("-m", "bodyfit", "detect", "--images", str(images), "--output", str(out), "--draw", str(tmp_path / "draw"))
    assert result.returncode == 1, result.stderr  # the broken image
    assert "broken.jpg" in result.stderr and "sky.png: nobody found" in result.stderr
    people = json.loads((out / "footballer_keypoints.json").read_text())["people"]
    assert len(people) == 1 and len(people[0]["pose_keypoints_2d"]) == 75
    assert json.loads((out / "sky_keypoints.json").read_text())["people"] == []
    assert (tmp_path / "draw" / "footballer.png").is_file()
    again = run("-m", "bodyfit", "detect", "--images", str(images), "--output", str(out))
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


# -- the person finder's geometry (no models) -------------------------------------------------

def test_tiles_cover_the_image_overlapping_by_half():
    for height, width in ((240, 300), (720, 1280), (600, 512), (50, 400)):
        for level in (1, 2, 3):
            windows = tile_windows(height, width, level)
            covered = np.zeros((height, width), bool)
            for centre, side in windows:
                assert side == pytest.approx(max(height, width) / level)
                x0, y0 = np.floor(centre - side / 2).astype(int)
                covered[max(y0, 0):y0 + int(np.ceil(side)) + 1, max(x0, 0):x0 + int(np.ceil(side)) + 1] = True
            assert covered.all(), (height, width, level)
            if level == 1:
                assert len(windows) == 1
            else:  # neighbours along the longer side overlap by at least half a window
                axis = 0 if width >= height else 1
                centres = np.unique(np.round([c[axis] for c, _ in windows], 3))
                assert np.all(np.diff(centres) <= windows[0][1] / 2 + 1e-2)
    with pytest.raises(ValueError, match="at least 1"):
        tile_windows(100, 100, 0)


def test_iou_and_suppression_against_a_naive_version():
    rng = np.random.default_rng(1)
    corners = rng.uniform(0, 100, (30, 2))
    boxes = np.concatenate([corners, corners + rng.uniform(5, 40, (30, 2))], axis=1)
    scores = rng.uniform(0, 1, 30)

    def naive_iou(a, b):
        ax = np.zeros((160, 160), bool)
        bx = np.zeros((160, 160), bool)
        ax[int(a[1]):int(a[3]), int(a[0]):int(a[2])] = True
        bx[int(b[1]):int(b[3]), int(b[0]):int(b[2])] = True
        return (ax & bx).sum() / (ax | bx).sum()

    whole = np.floor(boxes)
    iou = box_iou(whole, whole)
    for i in range(0, 30, 7):
        for j in range(30):
            assert iou[i, j] == pytest.approx(naive_iou(whole[i], whole[j]), abs=1e-9)
    kept = non_max_suppression(boxes, scores, 0.3)
    assert kept[0] == int(np.argmax(scores))
    assert all(box_iou(boxes[a], boxes[b])[0, 0] <= 0.3 for a in kept for b in kept if a != b)
    for dropped in set(range(30)) - set(kept):  # each dropped box overlaps a better kept one
        assert any(box_iou(boxes[dropped], boxes[k])[0, 0] > 0.3 and scores[k] >= scores[dropped] for k in kept)
    with pytest.raises(ValueError, match="2 boxes but 3 scores"):
        non_max_suppression(boxes[:2], scores[:3], 0.3)


def test_a_face_proposes_a_person_below_it_and_head_windows():
    config = DetectConfig()
    face = np.array([100.0, 50.0, 120.0, 74.0])  # 20 wide, 24 tall
    box = face_person_box(face, config)
    assert box[0] == pytest.approx(110 - 30) and box[2] == pytest.approx(110 + 30)
    assert box[1] == pytest.approx(50 - 12) and box[3] == pytest.approx(50 + 9 * 24)
    centre, side = head_window(face, 3.0)
    assert side == pytest.approx(60) and np.allclose(centre, [110, 62])  # the head in the middle
    centre, side = head_window(face, 5.0)
    assert side == pytest.approx(100) and np.allclose(centre, [110, 62 + 20])  # shifted to the chest
    guess = Proposal(np.array([0.0, 0.0, 50.0, 140.0]), 0.5, "hog").head_guess()
    assert np.allclose(guess, [15, 0, 35, 20])


# Pose landmarks of a person facing the camera, in head widths from the nose (x right, y down).
_HEAD = [(0, 0), (-.15, -.15), (-.2, -.15), (-.25, -.15), (.15, -.15), (.2, -.15), (.25, -.15),
         (-.45, -.05), (.45, -.05), (-.1, .25), (.1, .25)]
_BODY = [(-1, 1.3), (1, 1.3), (-1.3, 2.6), (1.3, 2.6), (-1.4, 3.8), (1.4, 3.8)] + [(-1.5, 4), (1.5, 4)] * 3 \
    + [(-.6, 4), (.6, 4), (-.6, 5.8), (.6, 5.8), (-.6, 7.5), (.6, 7.5), (-.6, 7.7), (.6, 7.7), (-.5, 7.9), (.5, 7.9)]


def person_at(x: float, y: float, head: float, visible=range(33)) -> Landmarks:
    points = np.array(_HEAD + _BODY, float) * head + [x, y]
    visibility = np.zeros((33, 1))
    visibility[list(visible)] = 0.9
    return Landmarks(np.concatenate([points, visibility], axis=1))


def test_one_person_or_two():
    def same(a, b):
        return same_person(a, b, 0.5, 0.5, 0.7)

    left, right = person_at(100, 50, 30), person_at(145, 55, 30)  # side by side, heads 1.5 apart
    assert len(left.pose) == 33 and head_box(left, 0.5)[2] - head_box(left, 0.5)[0] == pytest.approx(27)
    assert not same(left, right) and not same(right, left)
    assert same(left, person_at(104, 52, 31))  # the same person, detected twice
    hallucinated = person_at(100, 50, 30)
    hallucinated.pose[:11, :2] += [40, 90]  # same body, a head put on the hands
    assert same(left, hallucinated)
    back = person_at(100, 50, 30, visible=range(11, 33))  # no head seen: the body decides
    assert head_box(back, 0.5) is None
    assert same(left, back) and not same(right, back)
    legs = person_at(100, 50, 30, visible=range(23, 27))  # too few landmarks in common: boxes decide
    assert same(person_at(100, 50, 30, visible=range(23, 33)), legs)


def test_matching_detections_to_people_counted():
    people = [VisiblePerson((0, 0, 100, 200), "full_body", False), VisiblePerson((90, 0, 200, 200), "waist_up", True)]
    match = match_people([(10, 10, 90, 190), (100, 0, 190, 150), (12, 8, 88, 120), (300, 0, 350, 50)], people)
    assert match.found == (0, 1) and match.count == 2
    assert match.extra == (2, 3)  # a second detection of person 0, and nobody counted
    assert match_people([], people).found == (-1, -1)


def test_people_counts_and_config_errors_name_the_file(tmp_path):
    counts = read_people_counts(GROUPS / "people.json")
    assert len(counts["vtest_600.jpg"]) == 6 and sum(p.edge for p in counts["vtest_600.jpg"]) == 1
    assert all((GROUPS / name).is_file() for name in counts)
    assert all((PHOTOS / name).is_file() for name in read_people_counts(PHOTOS / "people.json"))
    bad = tmp_path / "people.json"
    bad.write_text('{"photos": {"a.jpg": {"people": [{"box": [1, 2, 3], "view": "full_body", "edge": false}]}}}')
    with pytest.raises(ValueError, match=r"people.json: a.jpg person 0"):
        read_people_counts(bad)
    text = (config_path("detect")).read_text()
    assert load_detect_config().finder == "proposals"
    for wrong, message in (("finder: proposals", "finder: tiles"), ("face_levels: [1, 2, 3]", "face_levels: [0]"),
                           ("hog: true", "hog: true\nhog_thresold: 1")):
        path = tmp_path / "detect.yaml"
        path.write_text(text.replace(wrong, message))
        with pytest.raises(ValueError, match=str(path).replace("\\", "\\\\")):
            load_detect_config(path)
