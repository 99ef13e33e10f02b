"""``fit.py`` end to end on the shipped examples: outputs, bad inputs, resume, independence.

These tests check plumbing, so they run a shortened schedule (the same stages with fewer
iterations, written as a config file: the schedule is data)."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import yaml

from bodyfit.cli import fit
from tests.conftest import REPO

EXAMPLES = REPO / "examples"
EXPECTED_SHAPES = {
    "betas": (10,), "expression": (10,), "global_orient": (3,), "body_pose": (63,),
    "left_hand_pose": (45,), "right_hand_pose": (45,), "jaw_pose": (3,), "leye_pose": (3,),
    "reye_pose": (3,), "transl": (3,), "focal_length": (2,), "camera_center": (2,),
    "camera_rotation": (3, 3), "camera_translation": (3,), "vertices": (13718, 3), "joints": (55, 3),
    "keypoints_3d": (25, 3), "keypoints_2d": (118, 2), "gender": (), "model_type": (), "loss": (),
    "reprojection_error_px": (), "time_s": (),
}


def make_folder(root, stems):
    images, keypoints = root / "images", root / "keypoints"
    images.mkdir(parents=True), keypoints.mkdir(parents=True)
    for stem in stems:
        shutil.copy(EXAMPLES / "images" / f"{stem}.png", images)
        shutil.copy(EXAMPLES / "keypoints" / f"{stem}_keypoints.json", keypoints)
    return images, keypoints


def run(images, keypoints, output, config, *extra):
    return fit.main(["--images", str(images), "--keypoints", str(keypoints), "--output", str(output),
                     "--config", str(config), "--quiet", *extra])


def test_outputs_and_bad_inputs(tmp_path, quick_config):
    images, keypoints = make_folder(tmp_path, ["two_people"])
    (images / "corrupt.png").write_bytes(b"not a png at all")
    shutil.copy(keypoints / "two_people_keypoints.json", keypoints / "corrupt_keypoints.json")
    shutil.copy(images / "two_people.png", images / "no_keypoints.png")
    shutil.copy(images / "two_people.png", images / "nobody.PNG")
    (keypoints / "nobody_keypoints.json").write_text(json.dumps({"version": 1.3, "people": []}))
    shutil.copy(images / "two_people.png", images / "broken.jpg")
    (keypoints / "broken_keypoints.json").write_text("{oops")
    output = tmp_path / "out"
    assert run(images, keypoints, output, quick_config) == 1  # some images failed
    summary = json.loads((output / "summary.json").read_text())
    assert summary["counts"] == {"ok": 1, "skipped": 1, "failed": 3}
    assert summary["people_fitted"] == 2
    reasons = {stem: record.get("reason", "") for stem, record in summary["images"].items()}
    assert "cannot read the image" in reasons["corrupt"] and "corrupt.png" in reasons["corrupt"]
    assert "no keypoint file" in reasons["no_keypoints"]
    assert "not valid JSON" in reasons["broken"] and "nobody in" in reasons["nobody"]
    for pid in (0, 1):
        with np.load(output / "results" / "two_people" / f"{pid:03d}.npz") as result:
            assert {k: result[k].shape for k in EXPECTED_SHAPES} == EXPECTED_SHAPES
            assert str(result["model_type"]) == "smplx" and result["vertices"][:, 2].min() > 1.0
        assert (output / "meshes" / "two_people" / f"{pid:03d}.obj").stat().st_size > 100_000
    assert (output / "images" / "two_people.png").is_file() and (output / "config.yaml").is_file()
    assert not list(output.rglob(".*.npz")) and not list(output.rglob(".*.json"))  # no temporaries left
    # a rerun retries the failed images (the corrupt one now fixed) and leaves the done ones alone
    fitted = (output / "results" / "two_people" / "000.npz").stat().st_mtime_ns
    shutil.copy(images / "two_people.png", images / "corrupt.png")
    run(images, keypoints, output, quick_config, "--no-overlay")
    summary = json.loads((output / "summary.json").read_text())
    assert summary["images"]["corrupt"]["status"] == "ok" and summary["counts"]["ok"] == 2
    assert (output / "results" / "two_people" / "000.npz").stat().st_mtime_ns == fitted


def test_rerun_resumes_and_overwrite_refits(tmp_path, quick_config):
    images, keypoints = make_folder(tmp_path, ["single_front"])
    output = tmp_path / "out"
    assert run(images, keypoints, output, quick_config, "--no-overlay") == 0
    result = output / "results" / "single_front" / "000.npz"
    first = result.stat().st_mtime_ns
    assert run(images, keypoints, output, quick_config, "--no-overlay") == 0
    assert result.stat().st_mtime_ns == first
    stale = output / "results" / "single_front" / "007.npz"  # a person an earlier run had
    stale.write_bytes(b"old")
    assert run(images, keypoints, output, quick_config, "--no-overlay", "--overwrite") == 0
    assert result.stat().st_mtime_ns != first and not stale.exists()


def test_result_does_not_depend_on_other_images(tmp_path, quick_config):
    """No state passes from one image to the next: with one person per batch, a person's
    result is the same bits whatever else is in the folder. (In larger batches the batch's
    float round-off differs, and SMPLify-X's objective amplifies that: test_batching.py.)"""
    together = make_folder(tmp_path / "a", ["single_front", "single_side"])
    alone = make_folder(tmp_path / "b", ["single_side"])
    run(*together, tmp_path / "out_a", quick_config, "--no-overlay", "--batch-size", "1")
    run(*alone, tmp_path / "out_b", quick_config, "--no-overlay", "--batch-size", "1")
    with np.load(tmp_path / "out_a" / "results" / "single_side" / "000.npz") as a, \
            np.load(tmp_path / "out_b" / "results" / "single_side" / "000.npz") as b:
        for key in ("body_pose", "betas", "transl", "vertices"):
            np.testing.assert_allclose(a[key], b[key], atol=1e-6)


def test_people_of_several_images_share_batches(tmp_path, quick_config):
    images, keypoints = make_folder(tmp_path, ["single_front", "single_side", "two_people"])
    output = tmp_path / "out"
    assert run(images, keypoints, output, quick_config, "--no-overlay", "--batch-size", "3") == 0
    summary = json.loads((output / "summary.json").read_text())
    assert summary["counts"]["ok"] == 3 and summary["people_fitted"] == 4
    assert len(list((output / "results").rglob("0*.npz"))) == 4


def test_reference_optimizer_runs_through_the_cli(tmp_path, quick_config):
    data = yaml.safe_load(quick_config.read_text())
    data["optimizer"] = "lbfgs"
    reference = tmp_path / "reference.yaml"
    reference.write_text(yaml.safe_dump(data))
    images, keypoints = make_folder(tmp_path, ["two_people"])
    assert run(images, keypoints, tmp_path / "out", reference, "--no-overlay") == 0
    assert len(list((tmp_path / "out" / "results" / "two_people").glob("*.npz"))) == 2


def test_max_people_and_missing_folder(tmp_path, quick_config):
    images, keypoints = make_folder(tmp_path, ["two_people"])
    output = tmp_path / "out"
    assert run(images, keypoints, output, quick_config, "--no-overlay", "--max-people", "1") == 0
    assert sorted(p.name for p in (output / "results" / "two_people").glob("*.npz")) == ["000.npz"]
    with pytest.raises(SystemExit, match="not a folder"):
        run(tmp_path / "missing", keypoints, output, quick_config)


def png_header_only(path, width: int, height: int) -> None:
    """A PNG whose header claims ``width`` x ``height`` pixels (what a huge photo looks like
    to a reader before decoding)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 16))
                     + chunk(b"IEND", b""))


def test_bad_images_and_keypoints_are_reported_and_the_run_goes_on(tmp_path, quick_config):
    images, keypoints = make_folder(tmp_path, ["single_front"])
    png_header_only(images / "huge.png", 30_000, 30_000)
    shutil.copy(keypoints / "single_front_keypoints.json", keypoints / "huge_keypoints.json")
    shutil.copy(images / "single_front.png", images / "twin.png")  # two images, one stem
    shutil.copy(images / "single_front.png", images / "twin.jpg")
    shutil.copy(keypoints / "single_front_keypoints.json", keypoints / "twin_keypoints.json")
    far = json.loads((keypoints / "single_front_keypoints.json").read_text())
    far["people"][0]["pose_keypoints_2d"] = [1e12 if i % 3 != 2 else 0.9 for i in range(75)]
    shutil.copy(images / "single_front.png", images / "far.png")
    (keypoints / "far_keypoints.json").write_text(json.dumps(far))
    output = tmp_path / "out"
    assert run(images, keypoints, output, quick_config, "--no-overlay") == 1
    summary = json.loads((output / "summary.json").read_text())
    records = summary["images"]
    assert records["single_front"]["status"] == "ok"  # the good image is fitted
    assert records["huge"]["status"] == "failed" and "too large" in records["huge"]["reason"]
    assert "huge.png" in records["huge"]["reason"]
    assert records["twin"]["status"] == "failed" and "twin.jpg" in records["twin"]["reason"]
    assert summary["ambiguous_stems"] == {"twin": [str(images / "twin.jpg"), str(images / "twin.png")]}
    far_person = records["far"]["people"][0]
    assert records["far"]["status"] == "skipped" and far_person["status"] == "skipped"
    assert "far outside the image" in far_person["reason"]


def test_missing_model_folder_and_unwritable_output_are_one_line(tmp_path, quick_config, capsys):
    images, keypoints = make_folder(tmp_path, ["single_front"])
    with pytest.raises(SystemExit) as missing:
        run(images, keypoints, tmp_path / "out", quick_config, "--model-folder", str(tmp_path / "nowhere"))
    message = str(missing.value)
    assert "no smplx neutral model found" in message and str(tmp_path / "nowhere") in message
    assert "\n" not in message
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / "results").write_text("a file where the results folder should be")
    with pytest.raises(SystemExit) as unwritable:
        run(images, keypoints, blocked, quick_config)
    assert str(blocked / "results") in str(unwritable.value) and "not a folder" in str(unwritable.value)
