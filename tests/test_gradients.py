"""What batched fitting rests on: each row's loss and gradient depend on that row alone; and
the gradients of the objective's parts against finite differences in float64."""
from __future__ import annotations

import dataclasses

import numpy as np
import roma
import torch

from bodyfit.resources import config_path
from bodyfit.bodymodels.keypoint_forward import KinematicChain
from bodyfit.collision.penalty import penetration_penalty
from bodyfit.collision.search import TrianglePairs
from bodyfit.fitting.config import load_config
from bodyfit.fitting.initializers import FACING_CAMERA, rest_variables
from bodyfit.fitting.losses import reprojection_term
from bodyfit.fitting.objective import camera_terms, stage_terms
from bodyfit.fitting.synthetic import case_targets, make_case
from bodyfit.geometry import project
from bodyfit.priors.factory import make_body_pose_prior
from tests.conftest import REST


def test_each_rows_loss_and_gradient_depend_on_that_row_alone(open_model):
    config = load_config(config_path("fit_smplx"), REST)
    prior = make_body_pose_prior(config.body_pose_prior, config.vposer)
    cases = [make_case(open_model, np.random.default_rng([11, k])) for k in range(4)]
    targets = case_targets(cases, config)
    variables = rest_variables(open_model, prior, config, targets, FACING_CAMERA)
    targets = dataclasses.replace(targets, initial_depth=variables.transl[:, 2].clone())
    generator = torch.Generator().manual_seed(0)
    stage = config.stages[-1]
    x = variables.pack(stage.free)
    x = (x + 0.1 * torch.randn(x.shape, generator=generator)).requires_grad_(True)

    def losses(flat: torch.Tensor) -> torch.Tensor:
        v = variables.unpack(stage.free, flat)
        return stage_terms(open_model, prior, v, targets, stage, config)["total"] + \
            camera_terms(open_model, prior, v, targets, targets.initial_depth, config)["total"]

    values = losses(x)
    (gradient,) = torch.autograd.grad(values[0], x)
    assert gradient[0].abs().sum() > 0 and torch.all(gradient[1:] == 0)
    moved = x.detach().clone()
    moved[2] += torch.randn(moved.shape[1], generator=generator)  # another person changes
    again = losses(moved.requires_grad_(True))
    assert torch.allclose(again[[0, 1, 3]], values[[0, 1, 3]].detach(), rtol=1e-6)
    assert not torch.isclose(again[2], values[2])
    (moved_gradient,) = torch.autograd.grad(again[0], moved)
    assert torch.allclose(moved_gradient[0], gradient[0], rtol=1e-5, atol=1e-6)
    # nor on another person's keypoints and confidences
    other = targets.keypoints.clone()
    other[2] += 25.0
    confidence = targets.confidence.clone()
    confidence[2] *= 0.3
    targets = dataclasses.replace(targets, keypoints=other, confidence=confidence)
    changed = losses(x)
    assert torch.allclose(changed[[0, 1, 3]], values[[0, 1, 3]], rtol=1e-6)
    assert not torch.isclose(changed[2], values[2])


def test_reprojection_term_gradient_in_float64():
    generator = torch.Generator().manual_seed(1)
    points = torch.randn(2, 6, 3, generator=generator, dtype=torch.float64)
    points[..., 2] = points[..., 2].abs() + 2.0  # in front of the camera
    intrinsics = torch.tensor([[900.0, 950.0, 320.0, 240.0]] * 2, dtype=torch.float64)
    observed = project(points, intrinsics).detach() + 40 * torch.randn(2, 6, 2, generator=generator,
                                                                        dtype=torch.float64)
    weights = torch.rand(2, 6, generator=generator, dtype=torch.float64)

    def term(p, w):
        return reprojection_term(project(p, intrinsics), observed, w, rho=100.0)

    assert torch.autograd.gradcheck(term, (points.requires_grad_(True), weights.requires_grad_(True)))


def test_penetration_penalty_gradient_in_float64():
    # triangle 0 lies flat at z = 0; triangle 1 pokes through it from above, its tip 5 mm below
    vertices = torch.tensor([[[-0.02, -0.02, 0.0], [0.03, -0.02, 0.0], [0.0, 0.03, 0.0],
                              [0.001, 0.002, -0.005], [0.004, 0.001, 0.02], [-0.003, 0.004, 0.02]]],
                            dtype=torch.float64)
    faces = torch.tensor([[0, 1, 2], [3, 4, 5]])
    pairs = TrianglePairs(torch.tensor([0]), torch.tensor([0]), torch.tensor([1]))
    penalty = penetration_penalty(vertices, faces, pairs)
    assert float(penalty[0]) > 0

    def function(v):
        return penetration_penalty(v, faces, pairs)

    assert torch.autograd.gradcheck(function, (vertices.clone().requires_grad_(True),))


def test_kinematic_chain_gradient_in_float64():
    parents = [-1, 0, 0, 1, 1, 2]  # level order: a root, two children, three grandchildren
    chain = KinematicChain(parents).double()
    generator = torch.Generator().manual_seed(2)
    rotvecs = 0.7 * torch.randn(2, len(parents), 3, generator=generator, dtype=torch.float64)
    rest = torch.randn(2, len(parents), 3, generator=generator, dtype=torch.float64)

    def joints(r, j):
        return chain(roma.rotvec_to_rotmat(r), j)[0]

    assert torch.autograd.gradcheck(joints, (rotvecs.requires_grad_(True), rest.requires_grad_(True)))
    # and against a naive chain: each joint's world transform its parent's times its own
    posed = joints(rotvecs, rest).detach()
    rotations = roma.rotvec_to_rotmat(rotvecs).detach()
    world_r, world_t = [rotations[:, 0]], [rest[:, 0]]
    for joint in range(1, len(parents)):
        parent = parents[joint]
        world_t.append(world_t[parent] + (world_r[parent] @ (rest[:, joint] - rest[:, parent])[..., None])[..., 0])
        world_r.append(world_r[parent] @ rotations[:, joint])
    assert torch.allclose(posed, torch.stack(world_t, 1), atol=1e-12)
