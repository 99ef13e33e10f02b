"""Self-collision: the exact triangle test, the batched pair search, part rules from skinning
weights, the penalty and its gradient, the term's reuse of pairs, fitting with the term."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from bodyfit.resources import config_path
from bodyfit.bodymodels.layer import BodyModel
from bodyfit.bodymodels.joints import SMPLX_JOINT, SMPLX_JOINT_NAMES, SMPLX_PARENTS
from bodyfit.collision.config import CollisionConfig
from bodyfit.collision.penalty import penetration_penalty
from bodyfit.collision.search import PairRules, find_collisions, triangles_intersect
from bodyfit.collision.segmentation import allowed_part_pairs, face_parts
from bodyfit.collision.term import SelfCollision, model_pair_rules

CONFIG = CollisionConfig()
UNIT_TRIANGLE = [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]


def two_triangle_mesh(second: list[list[float]]) -> tuple[torch.Tensor, PairRules]:
    """A mesh of the unit triangle in z = 0 and ``second``, each its own part."""
    vertices = torch.tensor([UNIT_TRIANGLE + second])
    faces = torch.tensor([[0, 1, 2], [3, 4, 5]])
    rules = PairRules(faces, torch.tensor([0, 1]), torch.tensor([[False, True], [True, False]]))
    return vertices, rules


def test_triangle_test_on_crossing_and_separate_pairs():
    first = torch.tensor([UNIT_TRIANGLE] * 4)
    second = torch.tensor([
        [[0.2, 0.2, -0.5], [0.2, 0.2, 0.5], [0.8, -0.5, 0.0]],   # pierces the first
        [[0.2, 0.2, 0.1], [0.6, 0.2, 0.1], [0.2, 0.6, 0.1]],     # parallel, 0.1 above
        [[2.0, 2.0, -0.5], [2.0, 2.0, 0.5], [3.0, 2.0, 0.0]],    # crosses the plane, beside it
        [[0.5, -0.5, -0.5], [0.5, 2.0, -0.5], [0.5, 0.2, 0.5]],  # a wall through the middle
    ])
    assert triangles_intersect(first, second).tolist() == [True, False, False, True]
    assert triangles_intersect(second, first).tolist() == [True, False, False, True]


def test_search_finds_crossing_pair_and_not_a_separate_one():
    crossing, rules = two_triangle_mesh([[0.2, 0.2, -0.5], [0.2, 0.2, 0.5], [0.8, -0.5, 0.0]])
    pairs = find_collisions(crossing, rules, cell=0.25)
    assert len(pairs) == 1 and (pairs.first.item(), pairs.second.item()) == (0, 1)
    apart, rules = two_triangle_mesh([[0.2, 0.2, 0.1], [0.6, 0.2, 0.1], [0.2, 0.6, 0.1]])
    assert len(find_collisions(apart, rules, cell=0.25)) == 0
    # the same crossing pair within one part is not counted
    same_part = PairRules(rules.faces, torch.tensor([0, 0]), rules.allowed)
    assert len(find_collisions(crossing, same_part, cell=0.25)) == 0


def test_part_rules_follow_tree_and_touching_pairs():
    allowed = allowed_part_pairs(SMPLX_PARENTS, SMPLX_JOINT_NAMES, [("left_hip", "right_hip")])
    j = SMPLX_JOINT
    assert not allowed[j["left_elbow"], j["left_elbow"]]
    assert not allowed[j["left_elbow"], j["left_shoulder"]] and not allowed[j["left_shoulder"], j["left_elbow"]]
    assert not allowed[j["left_hip"], j["right_hip"]]
    assert allowed[j["left_wrist"], j["spine1"]] and allowed[j["left_knee"], j["right_knee"]]
    with pytest.raises(ValueError, match="collision part pair"):
        allowed_part_pairs(SMPLX_PARENTS, SMPLX_JOINT_NAMES, [("left_hip", "tail")])


def test_parts_from_skinning_weights(open_model):
    parts = face_parts(open_model.smpl.lbs_weights.numpy(), open_model.faces)
    vertices = open_model(open_model.zero_params(1)).vertices[0].detach().numpy()
    centres = vertices[open_model.faces].mean(axis=1)
    joints = open_model(open_model.zero_params(1)).joints[0].detach().numpy()
    for name in ("head", "left_knee", "right_elbow", "spine2"):
        nearest = np.linalg.norm(centres - joints[SMPLX_JOINT[name]], axis=1).argsort()[:50]
        chain = {SMPLX_JOINT[name], SMPLX_PARENTS[SMPLX_JOINT[name]]}
        assert np.mean([p in chain for p in parts[nearest]]) > 0.8, name


@pytest.mark.parametrize("gender", ["neutral", "male", "female"])
def test_rest_pose_of_shipped_models_has_no_collisions(gender):
    model = BodyModel("smplx", gender)
    rules = model_pair_rules(model, CONFIG)
    with torch.no_grad():
        vertices = model(model.zero_params(1)).vertices
    assert len(find_collisions(vertices, rules, CONFIG.cell_size)) == 0


def arm_into_torso(model: BodyModel, degrees: float = -100.0):
    params = model.zero_params(1)
    params.body_pose[0, 3 * (SMPLX_JOINT["left_shoulder"] - 1) + 2] = float(np.deg2rad(degrees))
    return params


def test_arm_pushed_into_torso_is_pushed_out_by_the_gradient(open_model):
    term = SelfCollision(open_model, dataclasses.replace(CONFIG, reuse_below=0.0))
    params = arm_into_torso(open_model)
    pose = params.body_pose.clone().requires_grad_(True)
    counts = []
    for _ in range(20):
        vertices = open_model(dataclasses.replace(params, body_pose=pose)).vertices
        penalty = term(vertices)
        counts.append(len(term.pairs(vertices)))
        if counts[-1] == 0:
            break
        gradient, = torch.autograd.grad(penalty.sum(), pose)
        with torch.no_grad():
            pose -= 0.02 * gradient / gradient.norm()  # 0.02 rad per step
    assert counts[0] > 50
    assert counts[-1] < counts[0] / 3
    # the left shoulder moved up, away from the torso
    assert pose[0, 3 * (SMPLX_JOINT["left_shoulder"] - 1) + 2] > params.body_pose[0, 3 * 15 + 2] + 0.05


def test_batched_search_matches_one_mesh_at_a_time(open_model):
    rules = model_pair_rules(open_model, CONFIG)
    with torch.no_grad():
        rest = open_model(open_model.zero_params(1)).vertices
        pushed = open_model(arm_into_torso(open_model)).vertices
        deeper = open_model(arm_into_torso(open_model, -110.0)).vertices
    batch = find_collisions(torch.cat([rest, pushed, deeper]), rules, CONFIG.cell_size)
    assert batch.counts(3).tolist()[0] == 0
    for row, single in ((1, pushed), (2, deeper)):
        alone = find_collisions(single, rules, CONFIG.cell_size)
        mine = batch.batch == row
        assert torch.equal(batch.first[mine], alone.first) and torch.equal(batch.second[mine], alone.second)


def test_penalty_is_zero_without_pairs_and_positive_with(open_model):
    rules = model_pair_rules(open_model, CONFIG)
    with torch.no_grad():
        vertices = torch.cat([open_model(open_model.zero_params(1)).vertices,
                              open_model(arm_into_torso(open_model)).vertices])
    pairs = find_collisions(vertices, rules, CONFIG.cell_size)
    penalty = penetration_penalty(vertices, rules.faces, pairs)
    assert penalty[0] == 0 and penalty[1] > 0


def test_pairs_reused_until_a_mesh_moves(open_model):
    term = SelfCollision(open_model, CONFIG)
    with torch.no_grad():
        vertices = torch.cat([open_model(arm_into_torso(open_model)).vertices] * 2)
    first = term.pairs(vertices)
    assert term.searched_meshes == 2
    nudged = vertices.clone()
    nudged[1] += 0.0005  # half a millimetre: below reuse_below
    assert len(term.pairs(nudged)) == len(first) and term.searched_meshes == 2
    moved = vertices.clone()
    moved[0] += torch.tensor([0.0, 0.0, 0.01])  # a centimetre: mesh 0 is searched again
    again = term.pairs(moved)
    assert term.searched_meshes == 3 and again.counts(2).tolist() == first.counts(2).tolist()
    # an optimiser evaluating only problem 1: its pairs come back for row 0, without a search
    alone = term.pairs(vertices[1:], ids=torch.tensor([1]))
    assert term.searched_meshes == 3 and alone.counts(1).tolist() == [first.counts(2)[1].item()]


@pytest.mark.parametrize("model_type", ["smpl", "smplh"])
def test_rules_for_other_model_types(synthetic_folder, model_type):
    model = BodyModel(model_type, "neutral", synthetic_folder(model_type))
    rules = model_pair_rules(model, CONFIG)
    joints = model.smpl.parents.shape[0]
    assert rules.allowed.shape == (joints, joints) and len(rules.parts) == len(model.faces)
    with torch.no_grad():
        pairs = find_collisions(model(model.zero_params(2)).vertices, rules, CONFIG.cell_size)
    # the random test mesh crosses itself; only pairs of parts the rules allow are reported
    assert len(pairs) > 0 and pairs.counts(2).tolist() == [len(pairs) // 2] * 2
    parts = torch.as_tensor(rules.parts)
    assert bool(torch.as_tensor(rules.allowed)[parts[pairs.first], parts[pairs.second]].all())


@pytest.mark.slow
def test_fit_with_the_term_leaves_fewer_intersections(open_model):
    from bodyfit.fitting.config import load_config
    from bodyfit.fitting.fitter import Fitter
    from bodyfit.fitting.synthetic import case_targets, make_case
    from bodyfit.priors.factory import make_body_pose_prior
    from tests.conftest import CALIBRATED_VPOSER, REST

    config = load_config(config_path("fit_smplx"), REST)
    assert [s.collision for s in config.stages] == [0.0, 0.0, 0.0, 0.01, 1.0]
    # a quarter of each stage's iteration budget keeps the test short
    config = dataclasses.replace(config, stages=tuple(
        dataclasses.replace(s, batched_max_iterations=s.batched_max_iterations // 4) for s in config.stages))
    rng = np.random.default_rng(5)
    cases = [make_case(open_model, rng, yaw_range=(-30.0, 30.0), contact=name) for name in ("arms_crossed", "hands_on_belly")]
    prior = make_body_pose_prior(config.body_pose_prior, CALIBRATED_VPOSER)
    counts = {}
    for enabled in (False, True):
        run = dataclasses.replace(config, collision=dataclasses.replace(config.collision, enabled=enabled))
        fitter = Fitter(open_model, prior, run)
        assert (fitter.collision is not None) == enabled
        result = fitter.fit(case_targets(cases, run))
        with torch.no_grad():
            vertices, _ = open_model.mesh_and_keypoints(result.params)
        counts[enabled] = find_collisions(vertices, model_pair_rules(open_model, CONFIG), CONFIG.cell_size).counts(2)
    assert counts[False].sum() > 0
    assert counts[True].sum() < counts[False].sum() / 2
