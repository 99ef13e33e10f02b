"""Quality figures per person (``quality``), their plumbing into fits, image records and
summary.json, and the dataset index (``pipeline.index``).

Each figure is checked on a case whose answer is known: a body placed by hand in front of a
camera, its keypoints its own projection, then moved, reshaped or reposed."""
from __future__ import annotations

import dataclasses
import json
import pickle

import numpy as np
import pytest
import roma
import torch

from bodyfit.cli import fit
from bodyfit.resources import config_path
from bodyfit.bodymodels.joints import SMPLX_JOINT
from bodyfit.fitting.core import ModelBank, fit_tasks
from bodyfit.fitting.tasks import build_task
from bodyfit.fitting.config import load_config
from bodyfit.geometry import project
from bodyfit.motion.cases import make_cases
from bodyfit.pipeline.index import write_index
from bodyfit.pipeline.results import count_flags
from bodyfit.quality.assess import FIGURES, FitBatch, QualityAssessor, flagged, json_ready
from bodyfit.quality.config import DEFAULT_QUALITY_CONFIG, load_quality_config
from bodyfit.quality import figures
from tests.test_fit_cli import EXAMPLES

INTRINSICS = torch.tensor([[1000.0, 1000.0, 480.0, 640.0]])
FACING_CAMERA = torch.tensor([[np.pi, 0.0, 0.0]])


@pytest.fixture(scope="module")
def assessor(open_model):
    return QualityAssessor(open_model, load_quality_config())


def posed(model, depth: float = 3.0, **changes):
    """Rest-pose parameters facing the camera at ``depth`` metres, with ``changes`` (name ->
    (1, D) tensor) written over them."""
    params = model.zero_params(1)
    params.global_orient[:] = FACING_CAMERA
    params.transl[:] = torch.tensor([[0.0, 0.3, depth]])
    return dataclasses.replace(params, **changes)


def batch_of(model, params, observed_from=None, anchor=None) -> FitBatch:
    """The fit ``params`` seen against the keypoints of ``observed_from`` (default: itself)."""
    with torch.no_grad():
        output = model(params)
        seen = model(observed_from or params).keypoints
    keypoints = project(seen, INTRINSICS)
    confidence = model.keypoint_valid[None].to(keypoints).clone()
    return FitBatch(params, output.vertices, output.joints, output.keypoints, project(output.keypoints, INTRINSICS),
                    keypoints, confidence, INTRINSICS, anchor)


def test_shipped_config_loads_and_refuses_unknown_keys(tmp_path):
    config = load_quality_config()
    assert config.behind_camera_m == pytest.approx(0.1) and config.error_2d > 0
    bad = tmp_path / "quality.yaml"
    bad.write_text(DEFAULT_QUALITY_CONFIG.read_text() + "shpae: 3.0\n")
    with pytest.raises(ValueError, match="quality.yaml.*unknown keys.*shpae"):
        load_quality_config(bad)
    bad.write_text("depth: 0.5\n")
    with pytest.raises(ValueError, match="depth is a factor"):
        load_quality_config(bad)
    bad.write_text("prior: high\n")
    with pytest.raises(ValueError, match="prior must be float"):
        load_quality_config(bad)


def test_a_body_at_its_true_depth_flags_nothing(open_model, assessor):
    quality = assessor.assess(batch_of(open_model, posed(open_model)))[0]
    assert set(quality) == set(FIGURES) - {"disagreement"}  # no regressor, no disagreement
    assert flagged(quality) == [], quality
    assert quality["error_2d"]["value"] < 1e-5 and quality["intersections"]["value"] == 0
    assert 2.5 < quality["distance"]["value"] < 3.5 and quality["behind_camera"]["value"] > 2.5
    assert quality["limbs"]["value"] == pytest.approx(1.0, abs=1e-5)  # the mean shape's own limbs


def test_a_body_pushed_behind_the_camera_is_flagged(open_model, assessor):
    at_camera = batch_of(open_model, posed(open_model, depth=0.05), observed_from=posed(open_model))
    quality = assessor.assess(at_camera)[0]
    assert quality["behind_camera"]["value"] < 0 and quality["behind_camera"]["flag"]
    assert quality["distance"]["flag"] and quality["depth"]["flag"]


def test_a_misplaced_fit_flags_the_2d_error_and_depth(open_model, assessor):
    truth = posed(open_model)
    aside = posed(open_model, transl=torch.tensor([[0.4, 0.3, 3.0]]))
    far = posed(open_model, depth=9.0)
    aside_quality, far_quality = (assessor.assess(batch_of(open_model, p, observed_from=truth))[0] for p in (aside, far))
    assert aside_quality["error_2d"]["flag"] and not aside_quality["depth"]["flag"]
    assert far_quality["depth"]["value"] > 2.5 and far_quality["depth"]["flag"]
    # the error is a share of the body's 2D size: the shift (400 px at 3 m, f = 1000) over its height
    assert aside_quality["error_2d"]["value"] == pytest.approx(0.4 * 1000 / 3.0 / 520, rel=0.15)


def test_betas_far_out_flag_the_shape_and_the_limbs(open_model, assessor):
    betas = torch.zeros(1, open_model.num_betas)
    betas[0, 0] = 8.0
    quality = assessor.assess(batch_of(open_model, posed(open_model, betas=betas)))[0]
    assert quality["shape"]["value"] == pytest.approx(8.0) and quality["shape"]["flag"]
    assert quality["limbs"]["value"] > 1.05
    joints = torch.randn(2, 55, 3, generator=torch.Generator().manual_seed(0))
    assert figures.limb_factor(joints * 1.5, joints[0]).tolist()[0] == pytest.approx(1.5, rel=1e-5)


def test_self_penetration_flags_intersections_and_the_rest_pose_does_not(open_model, assessor):
    pose = torch.zeros(1, 63)
    for side, sign in (("left", -1.0), ("right", 1.0)):  # both arms swung down, deep into the torso
        pose[0, 3 * (SMPLX_JOINT[f"{side}_shoulder"] - 1) + 2] = sign * np.deg2rad(110.0)
    rest, penetrating = posed(open_model), posed(open_model, body_pose=pose)
    values = assessor.values(batch_of(open_model, cat_params([rest, penetrating])))
    assert values["intersections"][0] == 0
    assert values["intersections"][1] > assessor.config.intersections, values["intersections"]


def cat_params(parts):
    """One batch of the parameters ``parts`` (each a batch)."""
    return dataclasses.replace(parts[0], **{name: torch.cat([getattr(p, name) for p in parts])
                                            for name in parts[0].as_dict()})


def test_disagreement_is_zero_when_the_fit_is_the_regressor_start(open_model, assessor):
    pose = roma.rotvec_to_rotmat(torch.randn(1, 21, 3, generator=torch.Generator().manual_seed(0)) * 0.3)
    params = posed(open_model, body_pose=roma.rotmat_to_rotvec(pose).reshape(1, 63))
    same = assessor.assess(batch_of(open_model, params, anchor=pose))[0]["disagreement"]
    assert same["value"] < 1e-3 and not same["flag"]
    turned = roma.rotvec_to_rotmat(torch.tensor([0.0, 0.0, np.deg2rad(50.0)], dtype=torch.float32)) @ pose
    other = assessor.assess(batch_of(open_model, params, anchor=turned))[0]["disagreement"]
    assert other["value"] == pytest.approx(50.0, abs=0.1) and other["flag"]


def test_error_and_box_against_a_naive_computation():
    generator = torch.Generator().manual_seed(0)
    projected, keypoints = torch.rand(3, 25, 2, generator=generator) * 500, torch.rand(3, 25, 2, generator=generator) * 500
    confident = torch.rand(3, 25, generator=generator) > 0.4
    confident[2] = False
    error = figures.error_2d_px(projected, keypoints, confident)
    size = figures.box_size(keypoints, confident)
    for row in range(2):
        seen = confident[row].numpy()
        distances = np.linalg.norm(projected[row].numpy()[seen] - keypoints[row].numpy()[seen], axis=-1)
        assert error[row] == pytest.approx(np.sort(distances)[(len(distances) - 1) // 2])  # torch: lower median
        assert size[row] == pytest.approx(np.ptp(keypoints[row].numpy()[seen], axis=0).max())
    assert torch.isnan(error[2]) and torch.isnan(size[2])
    with pytest.raises(ValueError, match=r"projected must be \(3, 25, 2\), got \(3, 24, 2\)"):
        figures.error_2d_px(projected[:, :24], keypoints, confident)


def test_fits_carry_their_figures_and_stay_picklable(open_model):
    config = load_config(config_path("fit_smplx"), {"init": "regressor", "regress_only": True})
    cases = make_cases(open_model, 3, seed=5)
    tasks = [build_task(c.observed, c.intrinsics, c.image_size, config, c.case_id, 0)[0] for c in cases]
    fits = fit_tasks(tasks, ModelBank({"smplx": config}), batch_size=3)
    for person in fits:
        assert set(person.quality) == set(FIGURES)
        assert person.quality["disagreement"]["value"] < 0.01  # the result is the regressor's start
        copy = pickle.loads(pickle.dumps(person))
        assert copy.quality == person.quality and copy.flags == person.flags
        assert all(type(v) in (float, bool) for entry in person.quality.values() for v in entry.values())


def test_run_records_summary_and_index(tmp_path):
    """A real run (the shipped regressor alone, so quick): each person's image.json entry holds
    every figure in the report's shape, summary.json counts the flags, the index has a row per
    person with the same figures."""
    output = tmp_path / "out"
    assert fit.main(["--images", str(EXAMPLES / "images"), "--keypoints", str(EXAMPLES / "keypoints"),
                     "--output", str(output), "--regress-only", "--no-overlay", "--quiet"]) == 0
    summary = json.loads((output / "summary.json").read_text())
    people = [(stem, p) for stem, record in summary["images"].items() for p in record["people"]]
    assert len(people) == 4
    for stem, person in people:
        assert set(person["quality"]) == set(FIGURES)
        for entry in person["quality"].values():
            assert set(entry) == {"value", "threshold", "flag"} and isinstance(entry["flag"], bool)
        assert person["flags"] == [name for name in FIGURES if person["quality"][name]["flag"]]
        with np.load(output / "results" / stem / f"{person['index']:03d}.npz") as arrays:
            assert list(arrays["quality_names"]) == list(person["quality"])
            assert arrays["quality_flags"].tolist() == [e["flag"] for e in person["quality"].values()]
    assert summary["flags"] == count_flags(summary["images"])["flags"]
    assert summary["people_flagged"] == sum(bool(p["flags"]) for _, p in people)
    with np.load(output / "index.npz") as index:
        assert sorted(zip(index["image"], index["person"])) == sorted((s, p["index"]) for s, p in people)
        assert index["body_pose"].shape == (4, 63) and index["keypoints_3d"].shape == (4, 25, 3)
        assert index["flag_disagreement"].sum() == 0 and np.all(index["quality_disagreement"] < 0.01)
        stem, person = people[0]
        row = list(zip(index["image"], index["person"])).index((stem, person["index"]))
        assert index["quality_depth"][row] == pytest.approx(person["quality"]["depth"]["value"])


def test_index_rebuilds_skipping_unreadable_people(tmp_path, caplog):
    output = tmp_path / "out"
    with pytest.raises(FileNotFoundError, match="no results folder"):
        write_index(output)
    folder = output / "results" / "img"
    folder.mkdir(parents=True)
    quality = {"shape": {"value": float("nan"), "threshold": 5.0, "flag": False},
               "error_2d": {"value": 0.2, "threshold": 0.05, "flag": True}}
    record = {"status": "ok", "people": [
        {"index": 0, "status": "ok", "quality": json_ready(quality), "flags": flagged(quality)},
        {"index": 1, "status": "ok", "quality": {}, "flags": []},
        {"index": 2, "status": "failed", "reason": "test"}]}
    (folder / "image.json").write_text(json.dumps(record))
    arrays = {"betas": np.zeros(10), "body_pose": np.zeros(63), "keypoints_3d": np.zeros((25, 3)),
              "model_type": np.array("smplx"), "gender": np.array("neutral"), "loss": np.array(1.0),
              "reprojection_error_px": np.array(2.0), "turned": np.array(False)}
    np.savez(folder / "000.npz", **arrays)
    (folder / "001.npz").write_bytes(b"broken")
    paths = write_index(output)
    assert "001.npz: not indexed" in caplog.text
    with np.load(paths[0]) as index:
        assert index["image"].tolist() == ["img"] and index["flags"].tolist() == ["error_2d"]
        assert np.isnan(index["quality_shape"][0]) and index["flag_error_2d"].tolist() == [True]
    pq = pytest.importorskip("pyarrow.parquet")
    table = pq.read_table(paths[1]).to_pylist()
    assert table[0]["flags"] == ["error_2d"] and table[0]["person"] == 0 and len(table[0]["body_pose"]) == 63


def test_summary_counts_flags():
    images = {"a": {"people": [{"status": "ok", "flags": ["shape", "depth"]}, {"status": "ok", "flags": []}]},
              "b": {"people": [{"status": "ok", "flags": ["depth"]}, {"status": "failed", "reason": "x"}]}}
    assert count_flags(images) == {"flags": {"shape": 1, "depth": 2}, "people_flagged": 2}
