"""The batched Levenberg-Marquardt solver and the residual form of the fitting objective."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from fitting.batch_lm import batch_levenberg_marquardt
from fitting.config import load_config
from fitting.fitter import Fitter
from fitting.objective import (Variables, camera_residuals, camera_terms, prior_scales, stage_residuals,
                               stage_terms)
from fitting.synthetic import case_targets, make_case
from priors.body_pose import make_body_pose_prior
from tests.conftest import REPO


def test_each_sample_solves_its_own_curve_fit():
    """y = a exp(b t) with a different (a, b) per sample, no prior: each sample recovers its
    own parameters; an easy sample stops before a hard one."""
    t = torch.linspace(0, 1, 20, dtype=torch.float64)
    truth = torch.tensor([[1.0, 0.5], [2.0, -1.0], [0.5, 2.0]], dtype=torch.float64)
    observed = truth[:, :1] * torch.exp(truth[:, 1:] * t)

    def residuals(x, rows):
        return x[:, :1] * torch.exp(x[:, 1:] * t) - observed[rows]

    start = torch.tensor([[1.0, 0.5], [1.0, 0.0], [1.0, 0.0]], dtype=torch.float64)  # sample 0 starts solved
    x, log = batch_levenberg_marquardt(residuals, torch.zeros_like(start), start, 100, 1e-14)
    assert torch.allclose(x, truth, atol=1e-6)
    assert int(log.iterations[0]) < int(log.iterations[2])


def test_linear_problem_with_prior_matches_closed_form():
    """r = A x - y with the prior |s x|^2: one damped step converges to (A'A + S^2)^-1 A'y."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(2, 6, 3, generator=generator, dtype=torch.float64)
    y = torch.randn(2, 6, generator=generator, dtype=torch.float64)
    scales = torch.tensor([[0.0, 1.0, 3.0], [2.0, 0.0, 0.5]], dtype=torch.float64)

    def residuals(x, rows):
        return (a[rows] @ x[..., None])[..., 0] - y[rows]

    x, _ = batch_levenberg_marquardt(residuals, scales, torch.zeros(2, 3, dtype=torch.float64), 200, 1e-15)
    normal = a.transpose(1, 2) @ a + torch.diag_embed(scales ** 2)
    expected = torch.linalg.solve(normal, (a.transpose(1, 2) @ y[..., None])[..., 0])
    assert torch.allclose(x, expected, atol=1e-8)


def test_residuals_sum_to_the_objective(open_model):
    """For every stage and the camera stage, the squared residuals (non-linear plus the
    linear prior part) add up to the same cost the L-BFGS optimisers minimise."""
    config = load_config(REPO / "cfg" / "fit_smplx.yaml")
    prior = make_body_pose_prior("vposer")
    cases = [make_case(open_model, np.random.default_rng([3, i])) for i in range(3)]
    targets = case_targets(cases, config)
    fitter = Fitter(open_model, prior, config)
    variables = fitter.initial_variables(targets, (np.pi, 0.0, 0.0))
    generator = torch.Generator().manual_seed(1)
    for name in ("latent", "betas", "expression", "left_hand_pose", "right_hand_pose", "jaw_pose"):
        value = getattr(variables, name)
        setattr(variables, name, torch.randn(value.shape, generator=generator) * 0.3)
    for stage in config.stages:
        linear = (prior_scales(open_model, variables, stage, stage.free) * variables.pack(stage.free)).pow(2).sum(-1)
        from_residuals = stage_residuals(open_model, prior, variables, targets, stage, config).pow(2).sum(-1) + linear
        expected = stage_terms(open_model, prior, variables, targets, stage, config)["total"]
        assert torch.allclose(from_residuals, expected, rtol=1e-5), stage.name
    depth = variables.transl[:, 2] + 0.2
    from_residuals = camera_residuals(open_model, prior, variables, targets, depth, config).pow(2).sum(-1)
    assert torch.allclose(from_residuals, camera_terms(open_model, prior, variables, targets, depth, config)["total"],
                          rtol=1e-5)


def test_fitter_with_levenberg_marquardt_fits_the_keypoints(open_model):
    """A short LM schedule brings the body's keypoints onto their 2D targets; the collision
    term, which is not a sum of squares, is refused with it."""
    from fitting.camera import project

    base = load_config(REPO / "cfg" / "fit_smplx.yaml")
    config = dataclasses.replace(
        base, optimizer="batched_lm", camera=dataclasses.replace(base.camera, lm_max_iterations=10),
        stages=tuple(dataclasses.replace(s, lm_max_iterations=6) for s in base.stages))
    prior = make_body_pose_prior("vposer")
    cases = [make_case(open_model, np.random.default_rng([4, i]), yaw_range=(-30.0, 30.0)) for i in range(2)]
    targets = case_targets(cases, config)
    fitter = Fitter(open_model, prior, config)

    def median_error(variables_or_params) -> float:
        with torch.no_grad():
            _, points = open_model.keypoints(variables_or_params)
        error = (project(points, targets.intrinsics) - targets.keypoints).norm(dim=-1)[:, :25]
        return float(error[targets.confidence[:, :25] > 0].median())

    before = median_error(fitter.initial_variables(targets, (np.pi, 0.0, 0.0)).to_params(prior))
    after = median_error(fitter.fit(targets).params)
    assert after < 8.0 < before
    with pytest.raises(ValueError, match="collision"):
        Fitter(open_model, prior, dataclasses.replace(
            config, collision=dataclasses.replace(config.collision, enabled=True)))


def test_variables_pack_in_the_order_of_prior_scales(open_model):
    prior = make_body_pose_prior("vposer")
    config = load_config(REPO / "cfg" / "fit_smplx.yaml")
    variables = Variables.initial(open_model, prior, 2)
    stage = config.stages[-1]
    scales = prior_scales(open_model, variables, stage, stage.free)
    assert scales.shape == variables.pack(stage.free).shape
    start = 6  # global_orient and transl come first and carry no prior
    assert (scales[:, :start] == 0).all() and torch.allclose(scales[:, start:start + 10], torch.tensor(stage.shape))
