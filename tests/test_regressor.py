"""The regressor package: rotations, the camera, inputs, the network, the adversarial
priors, training (the loss goes down, the held-out error goes down, resume) and
checkpoints."""
from __future__ import annotations

import numpy as np
import pytest
import roma
import torch

from bodyfit.resources import config_path
from bodyfit.bodymodels.layer import BodyModel
from bodyfit.fileio.keypoint_layout import BODY
from bodyfit.motion.corpus import load_corpus
from bodyfit.regressor.body import body_points
from bodyfit.fileio.checkpoints import CheckpointError
from bodyfit.regressor.checkpoint import load_regressor, load_training_state
from bodyfit.regressor.discriminators import Discriminators, discriminator_loss
from bodyfit.regressor.inputs import heatmaps, keypoint_boxes, make_input, to_box
from bodyfit.regressor.model import Regressor, RegressorShape, camera_translation, rotations_from_6d, rotations_to_6d
from bodyfit.regressor.synthetic import SyntheticPeople, generate, reobserve
from bodyfit.regressor.training import RealSamples, evaluate, load_train_config, synthetic_batches, train


@pytest.fixture(scope="module")
def model() -> BodyModel:
    return BodyModel()


@pytest.fixture(scope="module")
def people() -> SyntheticPeople:
    return generate(96, seed=3, split="train", widened=True, workers=1, progress=False)


def test_6d_round_trip():
    rotations = roma.random_rotmat(50)
    assert torch.allclose(rotations_from_6d(rotations_to_6d(rotations)), rotations, atol=1e-5)


def test_body_points_are_the_models(model):
    params = model.zero_params(3)
    torch.manual_seed(0)
    params.global_orient, params.body_pose = torch.randn(3, 3), 0.3 * torch.randn(3, 63)
    params.betas, params.transl = torch.randn(3, 10), torch.randn(3, 3)
    output = model(params)
    rotations = roma.rotvec_to_rotmat(torch.cat([params.global_orient[:, None], params.body_pose.view(3, 21, 3)], 1))
    joints, keypoints = body_points(model, rotations, params.betas, params.transl)
    assert torch.allclose(joints, output.joints[:, :22], atol=1e-4)
    assert torch.allclose(keypoints, output.keypoints[:, BODY], atol=1e-4)


def test_camera_translation_places_a_far_body(model):
    """A body 12 m away is almost weak-perspective: the camera fitted to its projection in box
    coordinates gives back its translation."""
    params = model.zero_params(1)
    params.global_orient[:] = torch.tensor([np.pi, 0.0, 0.0])
    transl = torch.tensor([[1.5, -0.4, 12.0]])
    params.transl = transl
    intrinsics = torch.tensor([[1500.0, 1500.0, 640.0, 480.0]])
    points = model(params).keypoints[:, BODY]
    pixels = points[..., :2] / points[..., 2:] * intrinsics[:, None, :2] + intrinsics[:, None, 2:]
    box = keypoint_boxes(pixels, torch.ones(1, 25))
    rest = points[0] - transl  # the body at zero translation
    # weak perspective in box coordinates: x_box = s (X + t); solve s, t by least squares
    coords = to_box(pixels, box)[0]
    design = torch.zeros(50, 3)
    design[:25, 0], design[:25, 1] = rest[:, 0], 1.0
    design[25:, 0], design[25:, 2] = rest[:, 1], 1.0
    solution = torch.linalg.lstsq(design.double(), torch.cat([coords[:, 0], coords[:, 1]]).double()[:, None]).solution
    scale = float(solution[0])
    camera = torch.tensor([[scale, float(solution[1]) / scale, float(solution[2]) / scale]])
    found = camera_translation(camera, box, intrinsics)
    assert torch.allclose(found, transl, rtol=0.03, atol=0.05), (found, transl)


def test_boxes_and_heatmaps():
    keypoints = torch.tensor([[[100.0, 200.0], [300.0, 600.0], [5000.0, 5000.0]]])
    confidence = torch.tensor([[0.9, 0.8, 0.0]])  # the far point is unseen
    inputs = make_input(keypoints, confidence, torch.tensor([[1000.0, 1000.0, 500.0, 500.0]]))
    assert torch.allclose(inputs.box, torch.tensor([[200.0, 400.0, 480.0]]))
    assert inputs.keypoints[0, :2, :2].abs().max() <= 1.0 and inputs.keypoints[0, 2].abs().sum() == 0
    maps = heatmaps(inputs.keypoints, size=33, sigma=1.0)
    peak = maps[0, 0].argmax()
    row, column = divmod(int(peak), 33)
    expected = (inputs.keypoints[0, 0, :2] + 1) / 2 * 32
    assert abs(column - float(expected[0])) <= 1 and abs(row - float(expected[1])) <= 1
    assert 0.6 * 0.9 < float(maps[0, 0].max()) <= 0.9 and float(maps[0, 2].max()) == 0.0  # peak off the grid


@pytest.mark.parametrize("encoder", ["keypoints", "heatmaps", "rgb"])
def test_every_encoder_regresses_valid_rotations(encoder):
    regressor = Regressor(RegressorShape(encoder=encoder, crop_size=64)).eval()
    inputs = make_input(torch.rand(2, 25, 2) * 500, torch.rand(2, 25), torch.tensor([[800.0, 800.0, 320, 240]] * 2),
                        image=torch.rand(2, 3, 480, 640) if encoder == "rgb" else None, crop_size=64)
    output = regressor(inputs)
    assert output.rotations.shape == (2, 22, 3, 3) and output.betas.shape == (2, 10) and output.camera.shape == (2, 3)
    identity = torch.eye(3).expand(2, 22, 3, 3)
    assert torch.allclose(output.rotations @ output.rotations.transpose(-1, -2), identity, atol=1e-4)
    assert len(output.iterations) == 3


def test_reobserve_follows_the_generators_noise(people):
    rng = np.random.default_rng(0)
    observed = reobserve(people, rng)
    seen = observed[..., 2] > 0
    error = np.linalg.norm(observed[..., :2] - people.keypoints_2d, axis=-1)[seen]
    share = error / np.repeat(people.body_height_px[:, None], 25, 1)[seen]
    assert 0.005 < np.median(share) < 0.04  # 1-2 % of the body's height, times 0.5-1.5, times a normal's norm
    assert 0.6 < seen.mean() < 0.98 and not np.array_equal(observed, reobserve(people, rng))


def test_discriminators_learn_real_poses_from_random_ones():
    poses = np.concatenate([clip.poses[::5, 3:] for clip in load_corpus("train")])
    real = RealSamples(poses)
    discriminators = Discriminators()
    optimizer = torch.optim.Adam(discriminators.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    for _ in range(150):
        rotations, betas = real.draw(rng, 64, torch.device("cpu"))
        fake = roma.random_rotmat(64 * 21).view(64, 21, 3, 3), 3.0 * torch.randn(64, 10)
        loss = discriminator_loss(discriminators(rotations, betas), discriminators(*fake))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        rotations, betas = real.draw(rng, 64, torch.device("cpu"))
        real_score = discriminators(rotations, betas).mean()
        fake_score = discriminators(roma.random_rotmat(64 * 21).view(64, 21, 3, 3), 3.0 * torch.randn(64, 10)).mean()
    assert real_score > 0.75 and fake_score < 0.25


@pytest.mark.slow
def test_training_lowers_the_error_and_resumes(tmp_path, model, people):
    train_people, heldout = people.subset(np.arange(64)), people.subset(np.arange(64, 96))
    config = load_train_config(config_path("regressor"),
                               {"training": {"steps": 60, "batch_size": 32, "eval_every": 30, "learning_rate": 1e-3},
                                "model": {"encoder_width": 256, "hidden": 256}})
    real = RealSamples(np.concatenate([clip.poses[::10, 3:] for clip in load_corpus("train")]))
    torch.manual_seed(0)
    before = evaluate(Regressor(config.model), model, heldout, torch.device("cpu"))
    metrics = train(config, synthetic_batches(train_people, 32), model, real, tmp_path, torch.device("cpu"),
                    heldout=heldout, progress=False)
    history = metrics["history"]
    assert history[-1]["train_total"] < history[0]["train_total"]
    assert metrics["pa_mpjpe_mm_mean"] < 0.9 * before["pa_mpjpe_mm_mean"]
    regressor = load_regressor(tmp_path)
    assert regressor.shape == config.model
    # resume: a longer run continues from last.pt's step
    longer = load_train_config(config_path("regressor"),
                               {"training": {"steps": 70, "batch_size": 32, "eval_every": 10},
                                "model": {"encoder_width": 256, "hidden": 256}})
    resumed = train(longer, synthetic_batches(train_people, 32), model, real, tmp_path, torch.device("cpu"),
                    heldout=heldout, progress=False)
    assert [h["step"] for h in resumed["history"]] == [30, 60, 70]
    assert load_training_state(tmp_path / "last.pt")["step"] == 70


def test_bad_checkpoints_are_refused(tmp_path):
    with pytest.raises(CheckpointError, match="no such"):
        load_regressor(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pt"):
        load_regressor(tmp_path / "junk.pt")


