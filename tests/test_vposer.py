"""VPoser: losses, training, checkpoints (bodyfit's and the official layout), AMASS reading."""
from __future__ import annotations

import numpy as np
import pytest
import roma
import torch

from bodyfit.resources import config_path
from bodyfit.vposer import losses
from bodyfit.fileio.checkpoints import CheckpointError
from bodyfit.vposer.checkpoint import load_vposer, save_checkpoint
from bodyfit.vposer.data import ClipError, downsample, load_dataset, mirror, read_clip
from bodyfit.vposer.model import VPoser, VPoserShape
from bodyfit.priors.vposer_prior import VPoserPrior
from bodyfit.vposer.training import LossWeights, load_train_config, loss_terms, train


def random_rotations(count: int, seed: int = 0) -> torch.Tensor:
    return roma.random_rotmat(count, generator=torch.Generator().manual_seed(seed)).reshape(-1, 21, 3, 3)


def test_validity_is_zero_for_rotations_and_positive_otherwise():
    rotations = random_rotations(4 * 21)
    assert losses.rotation_validity(rotations).abs().max() < 1e-5
    assert (losses.rotation_validity(rotations * 1.1) > 0.1).all()
    reflected = rotations.clone()
    reflected[..., 0] *= -1  # det -1: orthogonal but not a rotation
    assert (losses.rotation_validity(reflected) >= 2 * 21 - 1e-4).all()


def test_kl_is_zero_for_the_standard_normal_and_positive_otherwise():
    standard = torch.distributions.Normal(torch.zeros(3, 32), torch.ones(3, 32))
    assert torch.allclose(losses.kl_to_standard_normal(standard), torch.zeros(3), atol=1e-6)
    shifted = torch.distributions.Normal(torch.full((3, 32), 0.5), torch.full((3, 32), 2.0))
    assert (losses.kl_to_standard_normal(shifted) > 1.0).all()


def test_geodesic_error_of_a_known_rotation():
    rotations = random_rotations(21)
    turn = roma.rotvec_to_rotmat(torch.tensor([0.0, 0.0, float(np.deg2rad(30.0))]))
    assert torch.allclose(losses.geodesic_degrees(rotations, rotations @ turn), torch.full((1, 21), 30.0), atol=1e-3)


@pytest.mark.parametrize("decoder", ["6d", "matrix"])
def test_overfits_a_small_batch(decoder):
    torch.manual_seed(0)
    poses = torch.randn(32, 63) * 0.4
    model = VPoser(VPoserShape(decoder_output=decoder, encoder_input="rotmat" if decoder == "matrix" else "axis_angle"))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    weights = LossWeights(kl=1e-4)
    first = float(loss_terms(model, poses, weights)["total"].detach())
    with torch.no_grad():
        first_validity = float(losses.rotation_validity(model.eval()(poses)[0]).mean())
    model.train()
    for _ in range(400):
        terms = loss_terms(model, poses, weights)
        optimizer.zero_grad()
        terms["total"].backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        decoded, _ = model(poses)
    error = losses.geodesic_degrees(roma.rotvec_to_rotmat(poses.view(-1, 21, 3)), decoded)
    assert float(terms["total"].detach()) < 0.1 * first and float(error.mean()) < 6.0
    validity = float(losses.rotation_validity(decoded).mean())
    if decoder == "6d":
        assert validity < 1e-4  # always valid, up to float32 round-off
    else:
        assert validity < 0.1 * first_validity  # the validity loss drives raw matrices to rotations
    assert model.decode(torch.zeros(2, 32)).shape == (2, 63)


def write_clip(path, frames=40, width=156, rate_key="mocap_framerate", rate=120.0, seed=0):
    rng = np.random.default_rng(seed)
    poses = rng.normal(scale=0.3, size=(frames, width)).astype(np.float32)
    np.savez(path, poses=poses, trans=np.zeros((frames, 3)), betas=np.zeros(16), gender="male", **{rate_key: rate})
    return poses


@pytest.mark.parametrize("width,rate_key", [(156, "mocap_framerate"), (165, "mocap_frame_rate"), (66, "mocap_framerate")])
def test_reads_amass_clips(tmp_path, width, rate_key):
    poses = write_clip(tmp_path / "clip.npz", width=width, rate_key=rate_key)
    clip = read_clip(tmp_path / "clip.npz")
    assert clip.frame_rate == 120.0
    np.testing.assert_allclose(clip.body_pose, poses[:, 3:66])
    np.testing.assert_allclose(downsample(clip, 30.0), poses[::4, 3:66])


@pytest.mark.parametrize("content,message", [
    (dict(trans=np.zeros((3, 3)), mocap_framerate=30.0), "no 'poses'"),
    (dict(poses=np.zeros((3, 100)), mocap_framerate=30.0), "must be \\(N, 66 \\| 156 \\| 165\\)"),
    (dict(poses=np.full((3, 156), np.nan), mocap_framerate=30.0), "NaN"),
    (dict(poses=np.zeros((3, 156))), "no frame rate"),
    (dict(poses=np.zeros((3, 156)), mocap_framerate=0.0), "must be positive"),
])
def test_malformed_clips_are_refused(tmp_path, content, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **content)
    with pytest.raises(ClipError, match=message) as error:
        read_clip(path)
    assert str(path) in str(error.value)


def test_not_an_npz_is_refused(tmp_path):
    path = tmp_path / "junk.npz"
    path.write_bytes(b"\x00\x01 not a zip")
    with pytest.raises(ClipError, match="cannot read"):
        read_clip(path)


def test_dataset_splits_by_clip_and_mirrors(tmp_path):
    for index in range(5):
        (tmp_path / f"sub{index % 2}").mkdir(exist_ok=True)
        write_clip(tmp_path / f"sub{index % 2}" / f"clip{index}.npz", frames=12, rate=30.0, seed=index)
    train_poses, val_poses, train_clips, val_clips = load_dataset(tmp_path, 30.0, 0.2, True, seed=0)
    assert len(val_clips) == 1 and len(train_clips) == 4 and not set(val_clips) & set(train_clips)
    assert train_poses.shape == (4 * 12 * 2, 63) and val_poses.shape == (12, 63)
    np.testing.assert_allclose(mirror(mirror(train_poses)), train_poses)


def test_mirrored_pose_mirrors_the_body(open_model):
    pose = np.random.default_rng(0).normal(scale=0.3, size=(1, 63))
    joints = []
    for body_pose in (pose, mirror(pose)):
        params = open_model.zero_params(1)
        params.body_pose[0] = torch.as_tensor(body_pose[0], dtype=torch.float32)
        joints.append(open_model(params).joints[0, :22].detach().numpy())
    reflected = joints[0] * [-1, 1, 1]
    swap = list(range(22))
    for left, right in ((1, 2), (4, 5), (7, 8), (10, 11), (13, 14), (16, 17), (18, 19), (20, 21)):
        swap[left], swap[right] = right, left
    assert np.abs(joints[1] - reflected[swap]).max() < 0.005


def test_checkpoint_round_trip(tmp_path):
    model = VPoser(VPoserShape(decoder_output="matrix")).eval()
    save_checkpoint(tmp_path / "vposer.pt", model, {"metrics": {"x": 1.0}})
    loaded, extra = load_vposer(tmp_path)
    latent = torch.randn(3, 32)
    assert torch.allclose(loaded.decode(latent), model.decode(latent), atol=1e-6)
    assert extra["metrics"] == {"x": 1.0} and loaded.shape.decoder_output == "matrix"
    (tmp_path / "other.pt").write_bytes(b"nonsense")
    with pytest.raises(CheckpointError, match="other.pt"):
        load_vposer(tmp_path / "other.pt")


def test_official_v2_layout_loads(tmp_path):
    original = VPoser(VPoserShape(encoder_input="axis_angle", decoder_output="6d")).eval()
    state = {f"vp_model.{k}": v for k, v in original.state_dict().items()}
    for key in ("vp_model.encoder_net.2.weight", "vp_model.encoder_net.8.mu.weight",
                "vp_model.encoder_net.8.logvar.bias", "vp_model.decoder_net.5.bias"):
        assert key in state
    folder = tmp_path / "V02_05"
    (folder / "snapshots").mkdir(parents=True)
    (folder / "V02_05.yaml").write_text("general: {expr_id: V02_05}\n")
    torch.save({"state_dict": state, "epoch": 8}, folder / "snapshots" / "V02_05_epoch=08_val_loss=0.03.ckpt")
    torch.save({"state_dict": {}, "epoch": 2}, folder / "snapshots" / "V02_05_epoch=02_val_loss=0.09.ckpt")
    loaded, extra = load_vposer(folder)
    assert extra["format"] == "official-v2.05" and "epoch=08" in extra["path"]
    latent = torch.randn(4, 32)
    assert torch.allclose(loaded.decode(latent), original.decode(latent), atol=1e-6)
    pose = torch.randn(4, 63) * 0.3
    assert torch.allclose(loaded.encode(pose).mean, original.encode(pose).mean, atol=1e-6)


def test_training_writes_checkpoints_and_resumes(tmp_path):
    for index in range(3):
        write_clip(tmp_path / f"clip{index}.npz", frames=20, rate=30.0, seed=index)
    config = load_train_config(config_path("vposer"), {"training": {"epochs": 2, "checkpoint_every": 1,
                                                                            "batch_size": 16}})
    output = tmp_path / "run"
    first = train(config, tmp_path, output, torch.device("cpu"), progress=False)
    assert first["epoch"] == 2 and {"val_geodesic_deg_mean", "val_kl", "sample_validity_per_joint_mean"} <= set(first)
    longer = load_train_config(config_path("vposer"), {"training": {"epochs": 4, "checkpoint_every": 1,
                                                                            "batch_size": 16}})
    resumed = train(longer, tmp_path, output, torch.device("cpu"), progress=False)
    history = torch.load(output / "last.pt", weights_only=True)["history"]
    assert resumed["epoch"] == 4 and [row["epoch"] for row in history] == [1, 2, 3, 4]
    assert {"vposer.pt", "last.pt", "config.yaml", "metrics.json"} <= {p.name for p in output.iterdir()}
    with pytest.raises(ValueError, match="unknown keys"):
        load_train_config(config_path("vposer"), {"training": {"epoks": 3}})


def test_shipped_prior_loads_and_decodes():
    from bodyfit.priors.factory import make_body_pose_prior

    prior = make_body_pose_prior("vposer", "default")
    assert isinstance(prior, VPoserPrior) and prior.latent_size == 32
    latent = torch.zeros(2, 32, requires_grad=True)
    pose = prior.decode(latent)
    assert pose.shape == (2, 63) and torch.isfinite(pose).all()
    (pose.sum() + prior.penalty(latent).sum()).backward()
    assert latent.grad is not None and torch.isfinite(latent.grad).all()


def test_train_vposer_on_the_corpus_writes_a_loadable_checkpoint(tmp_path):
    import train_vposer

    output = tmp_path / "corpus_run"
    assert train_vposer.main(["--corpus", "--no-widened", "--epochs", "1", "--max-frames", "64", "--output",
                              str(output), "--quiet"]) == 0
    model, info = load_vposer(output)
    metrics = info["metrics"]
    assert metrics["train_frames"] == 128 and metrics["val_frames"] > 0  # 64 frames and their mirrors
    assert all(not name.startswith("widened") for name in metrics["val_clips"])
    assert model.decode(torch.zeros(2, model.latent_size)).shape == (2, 63)
