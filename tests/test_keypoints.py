"""OpenPose keypoint files: round trip, matching by stem, and refusal of bad files."""
from __future__ import annotations

import json

import numpy as np
import pytest

from bodyfit.fileio.openpose_json import KeypointFileError, PersonKeypoints, match_images, read_openpose, write_openpose


def person(seed: int) -> PersonKeypoints:
    rng = np.random.default_rng(seed)

    def part(n):
        return np.column_stack([rng.uniform(0, 640, (n, 2)), rng.uniform(0, 1, n)]).round(3)

    return PersonKeypoints(part(25), part(21), part(21), part(70))


def test_round_trip_keeps_every_person_and_part(tmp_path):
    people = [person(0), person(1)]
    path = tmp_path / "a_keypoints.json"
    write_openpose(path, people)
    back = read_openpose(path)
    assert len(back) == 2
    for original, loaded in zip(people, back):
        for name in ("body", "left_hand", "right_hand", "face"):
            np.testing.assert_allclose(getattr(loaded, name), getattr(original, name), atol=1e-4)
    assert json.loads(path.read_text())["version"] == 1.3


def test_layout_round_trip():
    p = person(3)
    layout = p.to_layout(use_face_contour=True)
    assert layout.shape == (135, 3)
    back = PersonKeypoints.from_layout(layout)
    np.testing.assert_array_equal(back.face[:68], p.face[:68])
    np.testing.assert_array_equal(back.right_hand, p.right_hand)


def test_missing_parts_read_as_zero_confidence(tmp_path):
    path = tmp_path / "x_keypoints.json"
    path.write_text(json.dumps({"version": 1.2, "people": [
        {"pose_keypoints_2d": [1.0] * 75, "hand_left_keypoints_2d": [], "face_keypoints_2d": []}]}))
    (p,) = read_openpose(path)
    assert p.left_hand.shape == (21, 3) and p.left_hand[:, 2].max() == 0 and p.body[0, 2] == 1.0


@pytest.mark.parametrize("content,message", [
    ("not json {", "not valid JSON"),
    (json.dumps({"version": 1.3}), "no 'people' list"),
    (json.dumps({"version": 1.3, "people": []}), "no people"),
    (json.dumps({"people": [{"pose_keypoints_2d": [1.0] * 74}]}), "has 74 values, expected 75"),
    (json.dumps({"people": [{"pose_keypoints_2d": [1.0] * 74 + [-0.5]}]}), "negative confidence"),
    ('{"people": [{"pose_keypoints_2d": [' + ", ".join(["NaN"] + ["1.0"] * 74) + "]}]}", "NaN"),
    (json.dumps({"people": [{"face_keypoints_2d": []}]}), "no 'pose_keypoints_2d'"),
])
def test_bad_files_are_refused_with_the_file_named(tmp_path, content, message):
    path = tmp_path / "bad_keypoints.json"
    path.write_text(content)
    with pytest.raises(KeypointFileError, match=message) as error:
        read_openpose(path)
    assert str(path) in str(error.value)


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(KeypointFileError, match="no such keypoint file"):
        read_openpose(tmp_path / "nobody_keypoints.json")


def test_images_match_keypoints_by_stem_any_case(tmp_path):
    images, keypoints = tmp_path / "images", tmp_path / "keypoints"
    images.mkdir(), keypoints.mkdir()
    for name in ("a.JPG", "b.jpeg", "c.png", "d.txt"):
        (images / name).write_bytes(b"")
    write_openpose(keypoints / "a_keypoints.json", [person(0)])
    write_openpose(keypoints / "c_keypoints.json", [person(0)])
    items = match_images(images, keypoints)
    assert [i.stem for i in items] == ["a", "b", "c"]
    assert items[0].keypoints is not None and items[1].keypoints is None and items[2].keypoints is not None
