"""Keypoint files of other detectors (``fileio.formats``): each tool's own layout read back
onto the BODY_25 person it was made from, formats told from the files, bad files refused
with the file named, and ``fit.py`` end to end on COCO-WholeBody keypoints from mmpose.

The files under tests/data/keypoint_formats/ were written by its ``make_files.py`` from the
shipped examples' OpenPose files, with the joint orders taken from each format's documentation."""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from bodyfit.cli import fit
from bodyfit.fileio.formats.config import KeypointFormatsConfig, load_formats_config
from bodyfit.fileio.formats.source import open_keypoints, openpose_votes
from bodyfit.fileio.keypoint_layout import BODY, FACE, LEFT_HAND, OPENPOSE, RIGHT_HAND
from bodyfit.fileio.openpose_json import KeypointFileError, match_images, read_openpose
from tests.conftest import REPO

DATA = REPO / "tests" / "data" / "keypoint_formats"
EXAMPLES = REPO / "examples"
SIZE = (600, 800)  # the examples' (height, width)
COCO_BODY = ("Nose", "LEye", "REye", "LEar", "REar", "LShoulder", "RShoulder", "LElbow", "RElbow", "LWrist",
             "RWrist", "LHip", "RHip", "LKnee", "RKnee", "LAnkle", "RAnkle")
FEET = ("LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel")
NO_SMALL_TOES = ("LBigToe", "LHeel", "RBigToe", "RHeel")
# file or folder -> (format, layout words in the log, BODY_25 points the format carries as they
# are, made from the pair around them (neck, mid-hip), has hands, has the face)
CASES = {
    "mmpose_wholebody": ("coco_wholebody", "COCO-WholeBody (mmpose)", COCO_BODY + FEET, True, True, True),
    "mmpose_coco17": ("coco17", "COCO-17 (mmpose)", COCO_BODY, True, False, False),
    "alphapose-results.json": ("halpe26", "Halpe-26 (AlphaPose results)", COCO_BODY + FEET + ("Neck", "MidHip"),
                               False, False, False),
    "halpe136/alphapose-results.json": ("halpe136", "Halpe-136 (AlphaPose results)",
                                        COCO_BODY + FEET + ("Neck", "MidHip"), False, True, True),
    "coco/person_keypoints.json": ("coco17", "COCO-17 (COCO annotations)", COCO_BODY, True, False, False),
    "coco/wholebody.json": ("coco_wholebody", "COCO-WholeBody (COCO annotations)", COCO_BODY + FEET, True, True,
                            True),
    "openpose_body25b": ("body25b", "OpenPose BODY_25B (OpenPose JSON)", COCO_BODY + FEET, True, True, True),
    "mediapipe": ("mediapipe", "MediaPipe (MediaPipe landmarks)", COCO_BODY + NO_SMALL_TOES, True, True, True),
}


def truth(stem: str = "two_people") -> list:
    return read_openpose(EXAMPLES / "keypoints" / f"{stem}_keypoints.json")


def read(name: str, stem: str = "two_people", **options) -> tuple[object, list[np.ndarray]]:
    """The source at ``name`` and its people of ``stem`` in bodyfit's layout (with the
    contour), without the shipped weights unless ``config`` is given: the tables are tested."""
    source = open_keypoints(DATA / name, **{"config": KeypointFormatsConfig(), **options})
    entry = source.entry_for(EXAMPLES / "images" / f"{stem}.png")
    return source, [p.to_layout(use_face_contour=True) for p in source.people(entry, SIZE)]


@pytest.mark.parametrize("name", CASES)
def test_each_format_lands_on_the_person_it_was_made_from(name):
    fmt, title, carried, derived, hands, face = CASES[name]
    source, people = read(name)
    assert source.format == fmt and source.describe().startswith(title)
    originals = truth()
    assert len(people) == len(originals)
    for layout, original in zip(people, originals):
        expected = original.to_layout(use_face_contour=True)
        for joint in carried:  # where the file has the point, it lands on that BODY_25 point
            row = OPENPOSE[joint]
            if layout[row, 2] > 0:
                np.testing.assert_allclose(layout[row, :2], expected[row, :2], atol=0.01, err_msg=f"{name} {joint}")
        seen = [j for j in carried if expected[OPENPOSE[j], 2] > 0]
        assert sum(layout[OPENPOSE[j], 2] > 0 for j in seen) >= len(seen) - 1  # COCO's flags may hide one
        absent = set(OPENPOSE) - set(carried) - ({"Neck", "MidHip"} if derived else set())
        assert all(layout[OPENPOSE[j], 2] == 0 for j in absent), name
        if derived:
            for joint, pair in (("Neck", ("RShoulder", "LShoulder")), ("MidHip", ("RHip", "LHip"))):
                rows = [OPENPOSE[p] for p in pair]
                np.testing.assert_allclose(layout[OPENPOSE[joint], :2], layout[rows, :2].mean(0), atol=1e-9)
                assert layout[OPENPOSE[joint], 2] == layout[rows, 2].min()
        for part, present, count in ((LEFT_HAND, hands, 21), (FACE, face, 51)):
            if present:
                mask = layout[part, 2] > 0
                assert mask.sum() >= count - 3
                np.testing.assert_allclose(layout[part][mask, :2], expected[part][mask, :2], atol=0.02)
            else:
                assert np.all(layout[part] == 0)


def test_coco_flags_and_wholebody_valid_flags_become_confidences():
    _, (first, _) = read("coco/wholebody.json")
    body = truth()[0].body
    rows = [OPENPOSE[j] for j in COCO_BODY]
    expected = np.where(body[rows, 2] > 0.5, 1.0, np.where(body[rows, 2] > 0, 0.5, 0.0))
    np.testing.assert_array_equal(first[rows, 2], expected)
    assert np.all(first[RIGHT_HAND, 2] == 0)  # righthand_valid: false


def test_mediapipe_normalised_landmarks_become_pixels_with_the_configured_confidences():
    source, (layout,) = read("mediapipe", "single_front")
    expected = truth("single_front")[0].body
    for joint in ("Nose", "RWrist", "LAnkle", "RHeel"):
        np.testing.assert_allclose(layout[OPENPOSE[joint]], expected[OPENPOSE[joint]], atol=0.01)
    _, people = read("mediapipe")
    config = KeypointFormatsConfig()
    assert np.allclose(people[0][LEFT_HAND, 2], config.mediapipe_hand_confidence)
    assert np.allclose(people[0][FACE, 2], config.mediapipe_face_confidence)


def test_coco_results_are_named_by_the_annotation_file():
    source = open_keypoints(DATA / "coco" / "results.json", image_ids=DATA / "coco" / "person_keypoints.json")
    assert source.format == "coco17"
    people = source.people(source.entry_for(EXAMPLES / "images" / "two_people.png"), SIZE)
    body = truth()[0].body
    np.testing.assert_allclose(people[0].body[OPENPOSE["RKnee"]], body[OPENPOSE["RKnee"]], atol=0.01)
    unnamed = open_keypoints(DATA / "coco" / "results.json")  # ids 1000-1002, no image named so
    with pytest.raises(KeypointFileError, match="none of the 3 images"):
        match_images(EXAMPLES / "images", unnamed)


def test_weights_from_the_config_scale_confidences(tmp_path):
    path = tmp_path / "formats.yaml"
    path.write_text(yaml.safe_dump({"weights": {"coco17": {"RHip": 0.0, "LHip": 0.5, "Neck": 0.0}}}))
    source = open_keypoints(DATA / "mmpose_coco17", config=load_formats_config(path))
    (first, _) = source.people(str(DATA / "mmpose_coco17" / "two_people.json"), SIZE)
    _, (plain, _) = read("mmpose_coco17")
    assert first.body[OPENPOSE["RHip"], 2] == 0 and first.body[OPENPOSE["Neck"], 2] == 0
    assert first.body[OPENPOSE["LHip"], 2] == pytest.approx(0.5 * plain[OPENPOSE["LHip"], 2])
    assert first.body[OPENPOSE["MidHip"], 2] == pytest.approx(plain[OPENPOSE["MidHip"], 2])


@pytest.mark.parametrize("content,message", [
    ({"weights": {"coco18": {}}}, "unknown format 'coco18'"),
    ({"weights": {"coco17": {"RightHip": 0.5}}}, "'RightHip' is not a BODY_25 name"),
    ({"weights": {"coco17": {"RHip": 2.0}}}, "RHip must be a number in [0, 1]"),
    ({"hip_weight": 0.5}, "unknown keys ['hip_weight']"),
])
def test_bad_config_is_refused_with_the_file_named(tmp_path, content, message):
    path = tmp_path / "formats.yaml"
    path.write_text(yaml.safe_dump(content))
    with pytest.raises(ValueError) as error:
        load_formats_config(path)
    assert message in str(error.value) and str(path) in str(error.value)


def test_shipped_weights_are_applied():
    config = load_formats_config()
    assert set(config.weights) <= {"coco17", "coco_wholebody", "halpe26", "halpe136", "body25b", "mediapipe"}
    _, shipped = read("mmpose_wholebody", config=config)
    _, plain = read("mmpose_wholebody")
    for joint in ("Neck", "MidHip", "RHip", "LHip"):
        weight = config.weights_of("coco_wholebody").get(joint, 1.0)
        np.testing.assert_allclose(shipped[0][OPENPOSE[joint], 2], weight * plain[0][OPENPOSE[joint], 2])


def test_openpose_folders_stay_body25_and_body25b_is_told_apart():
    assert open_keypoints(EXAMPLES / "keypoints").format == "openpose"
    assert open_keypoints(DATA / "openpose_body25b").format == "body25b"
    assert open_keypoints(DATA / "openpose_body25b", "openpose").format == "openpose"  # the flag decides
    bodies = [p.body for p in truth()]
    assert openpose_votes(bodies) == {"openpose": 2, "body25b": 0}


def write(path: Path, value: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value))
    return path


@pytest.mark.parametrize("make,message", [
    (lambda d: write(d / "x.json", {"detections": []}), "not a keypoint file bodyfit knows"),
    (lambda d: write(d / "x.json", [{"image_id": "a.jpg", "keypoints": [1.0] * 54, "score": 1}]),
     "people of 18 points"),
    (lambda d: write(d / "x.json", [{"image_id": "a.jpg", "keypoints": [1.0] * 51}, {"image_id": "b.jpg"}]),
     "detection 1 has no 'image_id' and 'keypoints'"),
    (lambda d: write(d / "x.json", {"people": []}), "holds one image's people: give the folder"),
    (lambda d: write(d / "f" / "x.json", [{"image_id": "a.jpg", "keypoints": [1.0] * 51, "idx": [0]}]).parent,
     "covers many images: give the file itself"),
    (lambda d: write(d / "x.json", {"images": [{"id": 1, "file_name": "a.jpg"}],
                                    "annotations": [{"image_id": 2, "keypoints": [1] * 51}]}),
     "names image_id 2, which 'images' lacks"),
])
def test_bad_files_are_refused_with_the_file_named(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(KeypointFileError) as error:
        open_keypoints(path)
    assert message in str(error.value) and str(path) in str(error.value)


def test_wrong_format_asked_for_is_refused():
    with pytest.raises(KeypointFileError, match="not the Halpe-26 that --keypoint-format halpe26 asks for"):
        open_keypoints(DATA / "mmpose_wholebody", "halpe26")
    with pytest.raises(ValueError, match="unknown keypoint format 'coco18'"):
        open_keypoints(DATA / "mmpose_wholebody", "coco18")
    with pytest.raises(FileNotFoundError, match="no such folder or keypoint file"):
        open_keypoints(DATA / "missing")


@pytest.mark.parametrize("record,message", [
    ({"keypoints": [[1.0, 2.0]] * 17, "keypoint_scores": [0.5] * 16}, "expected 17 points with a score each"),
    ({"keypoints": [[1.0, 2.0]] * 17}, "instance 0 has no 'keypoints' and 'keypoint_scores'"),
])
def test_a_bad_per_image_file_fails_that_image_only(tmp_path, record, message):
    folder = tmp_path / "predictions"
    shutil.copy(DATA / "mmpose_coco17" / "two_people.json", tmp_path)
    write(folder / "good.json", [{"keypoints": [[1.0, 2.0]] * 17, "keypoint_scores": [0.5] * 17}])
    bad = write(folder / "bad.json", [record])
    source = open_keypoints(folder)
    assert len(source.people(source.entry_for(Path("good.png")), SIZE)) == 1
    with pytest.raises(KeypointFileError) as error:
        source.people(source.entry_for(Path("bad.png")), SIZE)
    assert message in str(error.value) and str(bad) in str(error.value)
    assert source.entry_for(Path("other.png")) is None and "other.json" in source.missing_reason(Path("other.png"))


def test_mediapipe_lone_hand_is_refused(tmp_path):
    folder = tmp_path / "landmarks"
    path = write(folder / "a.json", {"landmark": [{"x": 0.1, "y": 0.2}] * 21})
    source = open_keypoints(folder)
    with pytest.raises(KeypointFileError, match="a lone list of 21 landmarks") as error:
        source.people(source.entry_for(Path("a.png")), SIZE)
    assert str(path) in str(error.value)


def test_fit_cli_on_coco_wholebody_from_mmpose(tmp_path, quick_config, caplog):
    output = tmp_path / "out"
    with caplog.at_level(logging.INFO):
        code = fit.main(["--images", str(EXAMPLES / "images"), "--keypoints", str(DATA / "mmpose_wholebody"),
                         "--output", str(output), "--config", str(quick_config), "--no-overlay", "--quiet"])
    assert code == 0
    assert f"keypoints: COCO-WholeBody (mmpose) from {DATA / 'mmpose_wholebody'}" in caplog.text
    summary = json.loads((output / "summary.json").read_text())
    assert summary["counts"] == {"ok": 3, "skipped": 0, "failed": 0} and summary["people_fitted"] == 4
    with np.load(output / "results" / "single_front" / "000.npz") as result:
        fitted = result["keypoints_2d"][BODY]
    body = truth("single_front")[0].body
    seen = body[:, 2] > 0
    assert np.median(np.linalg.norm(fitted[seen] - body[seen, :2], axis=1)) < 15.0  # px, on an 800 x 600 image


def test_fit_cli_on_one_alphapose_file_over_many_images(tmp_path, caplog):
    """A single file over the folder: images it does not name had nobody detected (AlphaPose
    writes detections only); --regress-only keeps this a plumbing test."""
    output = tmp_path / "out"
    with caplog.at_level(logging.INFO):
        code = fit.main(["--images", str(EXAMPLES / "images"), "--keypoints", str(DATA / "alphapose-results.json"),
                         "--output", str(output), "--regress-only", "--no-overlay", "--quiet"])
    assert code == 0 and "keypoints: Halpe-26 (AlphaPose results)" in caplog.text
    summary = json.loads((output / "summary.json").read_text())
    assert summary["counts"] == {"ok": 2, "skipped": 1, "failed": 0} and summary["people_fitted"] == 3
    assert summary["images"]["single_front"]["reason"] == "nobody in the keypoint file"
    with pytest.raises(SystemExit, match="not the COCO-17 that --keypoint-format coco17 asks for"):
        fit.main(["--images", str(EXAMPLES / "images"), "--keypoints", str(DATA / "alphapose-results.json"),
                  "--output", str(output), "--keypoint-format", "coco17", "--quiet"])
