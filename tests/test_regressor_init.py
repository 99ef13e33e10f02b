"""Fits started from the regressor: the feed-forward mode returns exactly the regressor's
prediction; the anchor term holds the pose near it; side views and pose clusters add
starts; the shipped regressor beats the rest pose on held-out realistic cases; fit.py's
``--init``, ``--regressor`` and ``--regress-only``."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import roma
import torch

from bodyfit.cli import fit
from bodyfit.resources import config_path
from bodyfit.fitting.config import load_config
from bodyfit.fitting.core import ModelBank, fit_tasks
from bodyfit.fitting.fitter import Fitter
from bodyfit.fitting.objective import Targets
from bodyfit.fitting.regressor_init import regress, regressor_starts
from bodyfit.fitting.tasks import build_task, tasks_to_targets
from bodyfit.geometry import pa_mpjpe
from bodyfit.motion.cases import make_cases
from bodyfit.priors.body_pose import L2AnglePrior
from bodyfit.regressor.checkpoint import DEFAULT_CHECKPOINT
from tests.test_fit_cli import EXAMPLES

CONFIG = config_path("fit_smplx")


@pytest.fixture(scope="module")
def small_regressor(untrained_regressor):
    return untrained_regressor


@pytest.fixture(scope="module")
def cases(open_model):
    return make_cases(open_model, 8, seed=11)


def config_with(checkpoint, **overrides):
    config = load_config(CONFIG, {"init": "regressor", **overrides})
    return dataclasses.replace(config, regressor=dataclasses.replace(config.regressor, checkpoint=str(checkpoint)))


def targets_of(cases, config) -> tuple[Targets, list]:
    tasks = [build_task(c.observed, c.intrinsics, c.image_size, config, c.case_id, 0)[0] for c in cases]
    return tasks_to_targets(tasks, torch.device("cpu"), torch.float32), tasks


def test_regress_only_returns_the_regressors_prediction(open_model, small_regressor, cases):
    config = config_with(small_regressor, regress_only=True)
    targets, _ = targets_of(cases, config)
    result = Fitter(open_model, L2AnglePrior(), config).fit(targets)
    from bodyfit.fitting.regressor_init import cached_regressor
    rotations, betas, transl = regress(cached_regressor(str(small_regressor), "cpu"), targets)
    assert torch.allclose(roma.rotvec_to_rotmat(result.params.global_orient), rotations[:, 0], atol=1e-4)
    assert torch.allclose(roma.rotvec_to_rotmat(result.params.body_pose.view(-1, 21, 3)), rotations[:, 1:], atol=1e-4)
    assert torch.allclose(result.params.betas, betas) and torch.allclose(result.params.transl, transl)
    assert torch.isfinite(result.loss).all() and not result.flipped.any()


def test_starts_per_person(open_model, small_regressor, cases):
    config = config_with(small_regressor)
    targets, _ = targets_of(cases, config)
    plain = regressor_starts(open_model, L2AnglePrior(), dataclasses.replace(
        config, regressor=dataclasses.replace(config.regressor, turned_starts=False)), targets, [None] * len(cases))
    assert plain.rows.tolist() == list(range(len(cases))) and plain.anchor.shape == (len(cases), 21, 3, 3)
    more = dataclasses.replace(config, regressor=dataclasses.replace(config.regressor, pose_starts=3, rest_starts=True))
    starts = regressor_starts(open_model, L2AnglePrior(), more, targets, [None] * len(cases))
    counts = np.bincount(starts.rows.numpy(), minlength=len(cases))
    assert (counts >= 1 + 3 + 1).all()  # regressor, 3 clusters, rest (and turned ones for side views)
    # every start of a person is held near that person's one anchor
    for row in range(len(cases)):
        anchors = starts.anchor[starts.rows == row]
        assert torch.allclose(anchors, plain.anchor[row].expand_as(anchors))


def test_the_anchor_holds_the_pose(open_model, small_regressor, cases):
    """With the anchor weighed heavily the fitted pose stays near the regressor's; without it,
    it moves further away."""
    def distance(anchor_weight: float) -> float:
        config = config_with(small_regressor)
        stages = tuple(dataclasses.replace(s, anchor=anchor_weight, batched_max_iterations=30) for s in config.stages[:1])
        config = dataclasses.replace(config, stages=stages,
                                     regressor=dataclasses.replace(config.regressor, turned_starts=False))
        targets, _ = targets_of(cases[:4], config)
        result = Fitter(open_model, L2AnglePrior(), config).fit(targets)
        from bodyfit.fitting.regressor_init import cached_regressor
        rotations, _, _ = regress(cached_regressor(str(small_regressor), "cpu"), targets)
        fitted = roma.rotvec_to_rotmat(result.params.body_pose.view(-1, 21, 3))
        return float(roma.rotmat_geodesic_distance(fitted, rotations[:, 1:]).mean())

    held, free = distance(300.0), distance(0.0)
    assert held < 0.5 * free and held < 0.05, (held, free)


@pytest.mark.skipif(not DEFAULT_CHECKPOINT.is_file(), reason="the shipped regressor is not there")
def test_shipped_regressor_beats_the_rest_pose(open_model, cases):
    """On held-out cases the shipped regressor's output alone is much nearer the truth than
    the rest pose every rest-start fit begins from."""
    config = load_config(CONFIG, {"init": "regressor", "regress_only": True})
    tasks = [build_task(c.observed, c.intrinsics, c.image_size, config, c.case_id, 0)[0] for c in cases]
    fits = fit_tasks(tasks, ModelBank({"smplx": config}), batch_size=8)
    truth = torch.tensor(np.stack([c.keypoints_3d[:25] for c in cases]))
    rest = open_model(open_model.zero_params(1)).keypoints[:, :25].expand_as(truth)
    regressed = pa_mpjpe(torch.tensor(np.stack([f.keypoints_3d[:25] for f in fits])), truth).tolist()
    rested = pa_mpjpe(rest, truth).tolist()
    assert np.mean(regressed) < 0.7 * np.mean(rested) and np.mean(regressed) < 0.12, (regressed, rested)


def test_fit_cli_regress_only_and_a_bad_regressor(tmp_path, small_regressor):
    output = tmp_path / "out"
    code = fit.main(["--images", str(EXAMPLES / "images"), "--keypoints", str(EXAMPLES / "keypoints"),
                     "--output", str(output), "--regress-only", "--regressor", str(small_regressor),
                     "--no-overlay", "--quiet"])
    assert code == 0
    record = json.loads((output / "results" / "two_people" / "image.json").read_text())
    assert record["status"] == "ok" and len(list((output / "results" / "two_people").glob("*.npz"))) == 2
    with np.load(output / "results" / "two_people" / "000.npz") as data:
        assert data["body_pose"].shape == (63,) and np.isfinite(data["vertices"]).all()
    with pytest.raises(SystemExit, match="missing.pt"):
        fit.main(["--images", str(EXAMPLES / "images"), "--keypoints", str(EXAMPLES / "keypoints"),
                  "--output", str(tmp_path / "bad"), "--init", "regressor", "--regressor", str(tmp_path / "missing.pt")])
    with pytest.raises(SystemExit, match="cannot go with --init rest"):
        fit.main(["--images", str(EXAMPLES / "images"), "--keypoints", str(EXAMPLES / "keypoints"),
                  "--output", str(tmp_path / "bad2"), "--init", "rest", "--regress-only"])
