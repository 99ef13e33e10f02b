"""Batched fitting: the per-sample optimiser, the keypoint-only forward, batch = one at a time."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import roma
import torch

from bodyfit.resources import config_path
from bodyfit.fileio import keypoint_layout
from bodyfit.bodymodels.layer import BodyModel
from bodyfit.fitting.batch_lbfgs import batch_lbfgs
from bodyfit.fitting.config import load_config
from bodyfit.fitting.fitter import Fitter
from bodyfit.fitting.objective import Targets
from bodyfit.fitting.synthetic import case_targets, make_case
from bodyfit.priors.factory import make_body_pose_prior
from tests.conftest import CALIBRATED_VPOSER, REST, randomize, synthetic_model_arrays


def rosenbrock(x: torch.Tensor, rows=None) -> torch.Tensor:
    return ((1 - x[:, 0]) ** 2 + 100 * (x[:, 1] - x[:, 0] ** 2) ** 2)


def test_batch_lbfgs_solves_each_sample():
    x0 = torch.tensor([[-1.2, 1.0], [0.0, 0.0], [2.0, 3.0]], dtype=torch.float64)
    x, log = batch_lbfgs(rosenbrock, x0, max_iterations=500, ftol=1e-14, gtol=1e-10)
    assert torch.allclose(x, torch.ones(3, 2, dtype=torch.float64), atol=1e-5)
    assert (log.loss < 1e-10).all()


def test_converged_sample_stops_while_others_go_on():
    def objective(x, rows):  # sample 0 starts at its minimum; sample 1 is an ill-conditioned bowl
        scale = torch.tensor([[1.0, 1.0], [1.0, 1000.0]], dtype=x.dtype)[rows]
        centre = torch.tensor([[0.0, 0.0], [3.0, -2.0]], dtype=x.dtype)[rows]
        return (scale * (x - centre) ** 2).sum(-1)

    x0 = torch.tensor([[0.0, 0.0], [0.0, 0.0]], dtype=torch.float64)
    x, log = batch_lbfgs(objective, x0, max_iterations=200, ftol=1e-15, gtol=1e-9)
    assert torch.equal(x[0], x0[0]) and int(log.iterations[0]) == 0
    assert int(log.iterations[1]) > 2 and torch.allclose(x[1], torch.tensor([3.0, -2.0], dtype=x.dtype), atol=1e-6)


def test_first_converged_sample_is_frozen_mid_run():
    evaluated = []

    def objective(x, rows):
        evaluated.append(rows.tolist())
        centre = torch.tensor([[1.0, 1.0], [5.0, -5.0]], dtype=x.dtype)[rows]
        weights = torch.tensor([[1.0, 1.0], [1.0, 500.0]], dtype=x.dtype)[rows]
        return (weights * (x - centre) ** 2).sum(-1)

    x, log = batch_lbfgs(objective, torch.zeros(2, 2, dtype=torch.float64), 100, 1e-15, 1e-10)
    assert int(log.iterations[0]) < int(log.iterations[1])
    assert evaluated[0] == [0, 1] and evaluated[-1] == [1]  # once converged, sample 0 is no longer evaluated
    assert torch.allclose(x, torch.tensor([[1.0, 1.0], [5.0, -5.0]], dtype=x.dtype), atol=1e-6)


def test_line_search_ladder_finds_a_far_step_in_fewer_evaluations():
    """A step 1000x too long: bisection halves its way down one evaluation at a time; the
    ladder tries 8 steps per batched evaluation. Both must end at a Wolfe point of every
    row (the rows differ in how far off they are), and the objective sees each row's
    trials as repeated rows."""
    from bodyfit.fitting.batch_lbfgs import _wolfe_search

    scale = torch.tensor([1.0, 1e3, 3e3], dtype=torch.float64)
    seen_rows = []

    def objective(x, rows):
        seen_rows.append(rows.tolist())
        return (x ** 2).sum(-1)

    x = torch.ones(3, 1, dtype=torch.float64)
    f, g = (x ** 2).sum(-1), 2 * x
    d = -g * scale[:, None]  # descent directions, too long by 1, 1000 and 3000 times
    slope = (g * d).sum(-1)
    results = {}
    for ladder, rounds in ((1, 20), (8, 6)):
        seen_rows.clear()
        x_new, f_new, g_new, failed, evaluations = _wolfe_search(
            objective, x, f, g, d, slope, torch.ones(3, dtype=torch.float64), torch.ones(3, dtype=torch.bool),
            1e-4, 0.9, rounds, ladder)
        assert not failed.any()
        assert (f_new <= f + 1e-4 * ((x_new - x) / d).squeeze(1) * slope).all()  # Armijo
        assert ((g_new * d).sum(-1) >= 0.9 * slope).all()                         # curvature
        results[ladder] = evaluations
    assert results[8] <= 3 < 10 <= results[1]
    assert set(seen_rows[-1]) <= {1, 2} and len(seen_rows[-1]) == 8 * len(set(seen_rows[-1]))  # 8 trials a row


@pytest.mark.parametrize("model_type", ["smpl", "smplh", "smplx"])
def test_keypoint_forward_matches_full_forward(tmp_path, model_type):
    arrays = synthetic_model_arrays(model_type)
    arrays["posedirs"] = np.random.default_rng(1).normal(scale=1e-3, size=arrays["posedirs"].shape)
    (tmp_path / model_type).mkdir()
    np.savez(tmp_path / model_type / f"{model_type.upper()}_NEUTRAL.npz", **arrays)
    model = BodyModel(model_type, "neutral", tmp_path)
    params = randomize(model.zero_params(3), seed=0)
    full = model(params)
    joints, keypoints = model.keypoints(params)
    assert torch.allclose(joints, full.joints, atol=1e-5) and torch.allclose(keypoints, full.keypoints, atol=1e-5)
    vertices, keypoints = model.mesh_and_keypoints(params)
    assert torch.allclose(vertices, full.vertices, atol=1e-5) and torch.allclose(keypoints, full.keypoints, atol=1e-5)
    # the body pose given as rotation matrices (as the prior decodes it): the same result
    rotations = roma.rotvec_to_rotmat(params.body_pose[:, :63].reshape(-1, 21, 3))
    blank = dataclasses.replace(params, body_pose=torch.zeros_like(params.body_pose))
    _, from_matrices = model.keypoints(blank, rotations)
    assert torch.allclose(from_matrices, full.keypoints, atol=1e-5)
    vertices, _ = model.mesh_and_keypoints(blank, rotations)
    assert torch.allclose(vertices, full.vertices, atol=1e-5)
    # only some keypoints (a stage that weighs no fingers or no face): the same values there, zero elsewhere
    for group in (keypoint_layout.BODY, keypoint_layout.LEFT_HAND, slice(keypoint_layout.FACE.start, None), [2, 5, 9, 12]):
        wanted = torch.zeros(model.num_keypoints, dtype=torch.bool)
        wanted[group] = True
        selected = model.selected_keypoints(blank, wanted, rotations)
        assert torch.allclose(selected[:, wanted], full.keypoints[:, wanted], atol=1e-5)
        assert not selected[:, ~wanted].any()


def test_keypoint_forward_matches_on_the_open_model(open_model):
    params = randomize(open_model.zero_params(4), seed=1, scale=0.4)
    full = open_model(params)
    joints, keypoints = open_model.keypoints(params)
    assert (keypoints - full.keypoints).abs().max() < 1e-5 and (joints - full.joints).abs().max() < 1e-5
    vertices, _ = open_model.mesh_and_keypoints(params)
    assert (vertices - full.vertices).abs().max() < 1e-5
    body = torch.zeros(open_model.num_keypoints, dtype=torch.bool)
    body[keypoint_layout.BODY] = True
    selected = open_model.selected_keypoints(params, body)
    assert (selected[:, body] - full.keypoints[:, body]).abs().max() < 1e-5 and not selected[:, ~body].any()
    # the body's points need neither the fingers nor the face: a shorter chain, fewer vertices
    body_forward = open_model.selected_forward(body)
    assert len(body_forward.joint_ids) == 22 and len(body_forward.v_template) < len(open_model.keypoint_forward.v_template)


def targets_of(cases, config) -> Targets:
    return case_targets(cases, config)


@pytest.mark.slow
def test_batched_fit_agrees_with_one_at_a_time(open_model):
    """Each sample is its own problem (the objective is separable to 1e-11 in float64), but
    SMPLify-X's objective amplifies any perturbation by one to two orders of magnitude per
    L-BFGS iteration, torch's reference L-BFGS included (a 1e-12 nudge of the start moves
    the result by centimetres), so the round-off of batched matrix products alone sends a
    sample to a different, comparable optimum. Agreement is therefore on fit quality over
    cases: the same 8 cases fitted as one batch and one at a time (a quarter of the default
    budgets, to keep the test short) reach median PA-MPJPE within 10 mm and median 2D error
    within 1 px of each other."""
    from bodyfit.fitting.metrics import reprojection_error
    from bodyfit.geometry import pa_mpjpe, project

    base = load_config(config_path("fit_smplx"), REST)
    config = dataclasses.replace(
        base, optimizer="batched_lbfgs",
        camera=dataclasses.replace(base.camera, batched_max_iterations=15),
        stages=tuple(dataclasses.replace(s, batched_max_iterations=max(8, s.batched_max_iterations // 4))
                     for s in base.stages))
    fitter = Fitter(open_model, make_body_pose_prior("vposer", CALIBRATED_VPOSER), config)
    rng = np.random.default_rng(21)
    cases = [make_case(open_model, rng) for _ in range(8)]

    def quality(params, targets, rows_cases):
        with torch.no_grad():
            _, points = open_model.keypoints(params)
        pixels = project(points, targets.intrinsics).numpy()
        return [(1000 * float(pa_mpjpe(points[r, :25], torch.as_tensor(c.keypoints_3d[:25]))),
                 reprojection_error(pixels[r, :25], c.observed[:25, :2], c.observed[:25, 2], 0.1))
                for r, c in rows_cases]

    targets = targets_of(cases, config)
    together = quality(fitter.fit(targets).params, targets, list(enumerate(cases)))
    alone = []
    for case in cases:
        single = targets_of([case], config)
        alone += quality(fitter.fit(single).params, single, [(0, case)])
    pa_together, px_together = np.median(np.array(together), axis=0)
    pa_alone, px_alone = np.median(np.array(alone), axis=0)
    assert abs(pa_together - pa_alone) < 10.0 and abs(px_together - px_alone) < 1.0, (together, alone)
