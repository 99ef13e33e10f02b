"""SPIN's loop (``train_regressor.py --spin``): epochs over a keypoint-only dataset keep each
person's best fit, train the regressor, resume, and write the pseudo-ground-truth in fit.py's
output contract and a trainer's dataset layout (HumanData for SMPL-X, SPIN's npz for SMPL)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bodyfit.cli import train_regressor
from bodyfit.fileio.images import write_png
from bodyfit.fileio.keypoint_layout import BODY
from bodyfit.fileio.openpose_json import PersonKeypoints, write_openpose
from bodyfit.motion.cases import make_cases
from bodyfit.regressor.checkpoint import load_training_state
from bodyfit.spin.store import FitStore


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, open_model):
    """Six held-out realistic cases as a folder: grey images of the cases' sizes and their
    BODY_25 detections as OpenPose files (hands and face unseen)."""
    root = tmp_path_factory.mktemp("spin_data")
    images, keypoints = root / "images", root / "keypoints"
    images.mkdir(), keypoints.mkdir()
    for case in make_cases(open_model, 6, seed=21):
        height, width = case.image_size
        write_png(images / f"{case.case_id}.png", np.full((height // 4, width // 4, 3), 128, dtype=np.uint8))
        (images / f"{case.case_id}_camera.json").write_text(json.dumps(dict(zip(("fx", "fy", "cx", "cy"),
                                                                             (case.intrinsics / 4).tolist()))))
        observed = np.zeros_like(case.observed)
        observed[BODY] = case.observed[BODY] * np.array([0.25, 0.25, 1.0])
        write_openpose(keypoints / f"{case.case_id}_keypoints.json", [PersonKeypoints.from_layout(observed)])
    return images, keypoints


@pytest.fixture(scope="module")
def start(untrained_regressor):
    return untrained_regressor


@pytest.fixture(scope="module")
def spin_config(tmp_path_factory):
    path = tmp_path_factory.mktemp("cfg") / "spin.yaml"
    path.write_text("epochs: 2\nbatch_size: 4\nlearning_rate: 1.0e-4\nmax_error_share: 0.2\n"
                    "fit_iterations: [5, 5]\nseed: 0\n")
    return path


def run(dataset, start, spin_config, output, *extra):
    images, keypoints = dataset
    return train_regressor.main(["--spin", "--images", str(images), "--keypoints", str(keypoints),
                                 "--output", str(output), "--checkpoint", str(start),
                                 "--spin-config", str(spin_config), "--quiet", *extra])


def test_loop_keeps_best_fits_resumes_and_writes_pseudo_ground_truth(tmp_path, dataset, start, spin_config):
    output = tmp_path / "spin"
    assert run(dataset, start, spin_config, output) == 0
    history = json.loads((output / "spin_history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]
    assert history[0]["replaced"] == 6  # every person fitted once
    assert history[1]["mean_data_term"] <= history[0]["mean_data_term"]  # the store keeps the better fit
    keys = [f"case_{i:04d}:0" for i in range(6)]
    store = FitStore.load(output / "spin_store.npz", keys)
    assert np.isfinite(store.data_term).all() and store.valid.any()
    # resume: one more epoch continues the history and the regressor's training state
    assert run(dataset, start, spin_config, output, "--epochs", "3") == 0
    again = json.loads((output / "spin_history.json").read_text())
    assert again[:2] == history and again[2]["epoch"] == 3
    assert load_training_state(output / "last.pt")["epoch"] == 3
    # pseudo-ground-truth: fit.py's contract for every valid person, and HumanData
    valid = int(FitStore.load(output / "spin_store.npz", keys).valid.sum())
    people = list((output / "pseudo_gt" / "results").glob("*/0*.npz"))
    assert len(people) == valid
    summary = json.loads((output / "pseudo_gt" / "summary.json").read_text())
    assert summary["people_fitted"] == valid
    with np.load(output / "pseudo_gt_humandata.npz", allow_pickle=True) as data:
        body = data["smplx"].item()
        assert int(data["__data_len__"]) == valid and body["body_pose"].shape == (valid, 21, 3)
        assert data["bbox_xywh"].shape == (valid, 5) and len(data["image_path"]) == valid


def test_smpl_fits_give_spins_npz(tmp_path, dataset, start, spin_config, open_body_folder):
    output = tmp_path / "spin_smpl"
    assert run(dataset, start, spin_config, output, "--epochs", "1", "--model-type", "smpl",
               "--model-folder", str(open_body_folder)) == 0
    with np.load(output / "pseudo_gt_spin.npz") as data:
        count = int(np.load(output / "spin_store.npz")["valid"].sum())
        assert data["pose"].shape == (count, 72) and data["shape"].shape == (count, 10)
        assert data["center"].shape == (count, 2) and (data["scale"] > 0).all()


def test_store_keeps_only_better_fits_and_knows_its_people(tmp_path):
    store = FitStore.empty(["a:0", "a:1", "b:0"])
    params = {name: np.full((2, width), value, dtype=np.float32)
              for name, width, value in (("global_orient", 3, 1.0), ("body_pose", 63, 0.1), ("betas", 10, 0.5),
                                         ("transl", 3, 2.0))}
    replaced = store.offer(np.array([2, 0]), params, np.array([5.0, np.nan]), np.array([0.01, 0.01]), 0.04, epoch=0)
    assert replaced.tolist() == [True, False]  # a NaN data term never wins
    assert store.valid.tolist() == [False, False, True] and store.updated.tolist() == [-1, -1, 0]
    worse = {name: value * 3 for name, value in params.items()}
    assert not store.offer(np.array([2]), {k: v[:1] for k, v in worse.items()}, np.array([6.0]),
                           np.array([0.01]), 0.04, epoch=1).any()
    np.testing.assert_allclose(store.transl[2], 2.0)  # the better, earlier fit stays
    assert store.offer(np.array([2]), {k: v[:1] for k, v in worse.items()}, np.array([1.0]),
                       np.array([0.09]), 0.04, epoch=1).all()
    assert not store.valid[2] and store.updated[2] == 1  # better data term, but over the error limit
    store.save(tmp_path / "store.npz")
    assert FitStore.load(tmp_path / "store.npz", ["a:0", "a:1", "b:0"]).data_term[2] == 1.0
    with pytest.raises(ValueError, match="first difference: a:1 != c:1"):
        FitStore.load(tmp_path / "store.npz", ["a:0", "c:1", "b:0"])


def test_loop_with_the_rgb_encoder(tmp_path, dataset, spin_config):
    """An RGB regressor reads the people's crops in the loop: its fits start from them and its
    training steps see them."""
    from bodyfit.regressor.checkpoint import save_checkpoint
    from bodyfit.regressor.model import Regressor, RegressorShape

    torch.manual_seed(0)
    start = tmp_path / "rgb.pt"
    save_checkpoint(start, Regressor(RegressorShape(encoder="rgb", crop_size=64, hidden=64)))
    output = tmp_path / "spin_rgb"
    assert run(dataset, start, spin_config, output, "--epochs", "1") == 0
    history = json.loads((output / "spin_history.json").read_text())
    assert history[0]["replaced"] == 6 and np.isfinite(history[0]["mean_loss"])
    assert load_training_state(output / "last.pt")["shape"]["encoder"] == "rgb"
