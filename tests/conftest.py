"""Shared fixtures: the open model, and small synthetic SMPL-family files."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from bodyfit.resources import config_path, model_path
from bodyfit.bodymodels.layer import BodyModel

REPO = Path(__file__).resolve().parents[1]
OPEN_FOLDER = model_path("open")
# The fitting tests' bounds were measured with the first shipped VPoser: they test the fitter,
# so they keep that prior; the default prior is judged by benchmarks/accuracy.py.
CALIBRATED_VPOSER = str(REPO / "models" / "vposer" / "open_deepmimic")
# SMPLify-X's start and schedule, for the tests of that schedule (the SMPL-X default starts from
# the regressor; its tests are tests/test_regressor_init.py).
REST = {"init": "rest"}

# Smallest vertex counts for which smplx's fixed keypoint vertex ids exist.
_MIN_VERTICES = {"smpl": 6890, "smplh": 6890, "smplx": 10475}
_JOINTS = {"smpl": 24, "smplh": 52, "smplx": 55}


def randomize(params, seed: int, scale: float = 0.3, transl_scale: float | None = None):
    """Fills every field of ``params`` (BodyParams) with N(0, scale^2) values, in place."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    for name, value in params.as_dict().items():
        sigma = transl_scale if (name == "transl" and transl_scale is not None) else scale
        value.copy_(torch.randn(value.shape, generator=generator) * sigma)
    return params


@pytest.fixture(scope="session")
def untrained_regressor(tmp_path_factory) -> Path:
    """A small untrained regressor's checkpoint: its outputs are a valid, arbitrary start."""
    import torch

    from bodyfit.regressor.checkpoint import save_checkpoint
    from bodyfit.regressor.model import Regressor, RegressorShape

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("regressor") / "regressor.pt"
    save_checkpoint(path, Regressor(RegressorShape(encoder_width=64, hidden=64)))
    return path


@pytest.fixture(scope="session")
def open_model() -> BodyModel:
    return BodyModel("smplx", "neutral")


def synthetic_model_arrays(model_type: str, seed: int = 0) -> dict[str, np.ndarray]:
    """A small, valid model file of ``model_type``: random template, a chain skeleton whose
    joint j is the mean of vertices assigned to it, rigid skinning."""
    rng = np.random.default_rng(seed)
    vertices, joints = _MIN_VERTICES[model_type], _JOINTS[model_type]
    template = rng.normal(size=(vertices, 3)) * 0.3
    owner = np.arange(vertices) % joints
    regressor = np.zeros((joints, vertices))
    regressor[owner, np.arange(vertices)] = 1.0
    regressor /= regressor.sum(axis=1, keepdims=True)
    weights = np.zeros((vertices, joints))
    weights[np.arange(vertices), owner] = 1.0
    parents = np.concatenate([[-1], np.arange(joints - 1)])
    arrays = {
        "v_template": template, "f": rng.integers(0, vertices, size=(200, 3)),
        "weights": weights, "J_regressor": regressor,
        "shapedirs": rng.normal(size=(vertices, 3, 20)) * 0.01,
        "posedirs": np.zeros((vertices, 3, (joints - 1) * 9)),
        "kintree_table": np.stack([parents, np.arange(joints)]),
    }
    if model_type in ("smplh", "smplx"):
        for side in "lr":
            arrays[f"hands_components{side}"] = np.eye(45)
            arrays[f"hands_mean{side}"] = np.zeros(45)
    if model_type == "smplx":
        arrays["lmk_faces_idx"] = np.arange(51)
        arrays["lmk_bary_coords"] = np.full((51, 3), 1 / 3)
    return arrays


@pytest.fixture
def synthetic_folder(tmp_path: Path):
    """Writes a synthetic model of a type into tmp_path/<type>/ and returns the folder."""
    def make(model_type: str, suffix: str = "npz") -> Path:
        folder = tmp_path / model_type
        folder.mkdir(exist_ok=True)
        arrays = synthetic_model_arrays(model_type)
        name = f"{model_type.upper()}_NEUTRAL"
        if suffix == "npz":
            np.savez(folder / f"{name}.npz", **arrays)
        else:
            import pickle

            with open(folder / f"{name}.pkl", "wb") as f:
                pickle.dump(arrays, f)
        return tmp_path
    return make


def open_model_as(model_type: str) -> dict[str, np.ndarray]:
    """The open SMPL-X model's body re-rigged as a ``smpl`` or ``smplh`` file: the same mesh and
    shape space; the jaw's and eyes' skinning merged into the head; for SMPL the fingers merged
    into one hand joint per side (placed at the middle finger's base). Anatomically a body, so
    fits on it behave as on real files (smplx's vertex ids for SMPL's extra keypoints land on
    other points of this mesh than on SMPL's: consistent, not anatomical)."""
    from bodyfit.bodymodels.joints import SMPLX_JOINT

    with np.load(OPEN_FOLDER / "smplx" / "SMPLX_NEUTRAL.npz", allow_pickle=False) as data:
        source = {key: data[key] for key in data.files}
    head = SMPLX_JOINT["head"]
    left_fingers, right_fingers = list(range(25, 40)), list(range(40, 55))
    if model_type == "smpl":
        groups = [[j] for j in range(22)] + [left_fingers, right_fingers]
        regressor_rows = list(range(22)) + [SMPLX_JOINT["left_middle1"], SMPLX_JOINT["right_middle1"]]
        parents = list(source["kintree_table"][0, :22]) + [20, 21]
    elif model_type == "smplh":
        groups = [[j] for j in range(22)] + [[j] for j in left_fingers + right_fingers]
        regressor_rows = list(range(22)) + left_fingers + right_fingers
        remap = {j: j for j in range(22)} | {j: j - 3 for j in left_fingers + right_fingers}
        parents = list(source["kintree_table"][0, :22]) + [remap[int(source["kintree_table"][0, j])]
                                                            for j in left_fingers + right_fingers]
    else:
        raise ValueError(model_type)
    groups[head] = [head, SMPLX_JOINT["jaw"], SMPLX_JOINT["left_eye_smplhf"], SMPLX_JOINT["right_eye_smplhf"]]
    weights = np.stack([source["weights"][:, group].sum(axis=1) for group in groups], axis=1)
    joints = len(groups)
    parents[0] = -1
    arrays = {
        "v_template": source["v_template"], "f": source["f"], "weights": weights,
        "J_regressor": source["J_regressor"][regressor_rows], "shapedirs": source["shapedirs"][..., :10],
        "posedirs": np.zeros((len(source["v_template"]), 3, (joints - 1) * 9)),
        "kintree_table": np.stack([np.asarray(parents, dtype=np.int64), np.arange(joints)]),
    }
    if model_type == "smplh":
        for side in "lr":
            arrays[f"hands_components{side}"] = source[f"hands_components{side}"]
            arrays[f"hands_mean{side}"] = source[f"hands_mean{side}"]
    return arrays


@pytest.fixture(scope="session")
def open_body_folder(tmp_path_factory) -> Path:
    """A model folder with the open body as SMPL and SMPL-H files (``open_model_as``)."""
    root = tmp_path_factory.mktemp("open_body")
    for model_type in ("smpl", "smplh"):
        (root / model_type).mkdir()
        np.savez(root / model_type / f"{model_type.upper()}_NEUTRAL.npz", **open_model_as(model_type))
    return root


@pytest.fixture(scope="session")
def quick_config(tmp_path_factory) -> Path:
    """The SMPL-X schedule with its iterations cut (the same stages, as a config file: the
    schedule is data), for tests of plumbing rather than of fitting."""
    data = yaml.safe_load((config_path("fit_smplx")).read_text())
    data["stage_defaults"].update(max_outer=2, lbfgs_max_iter=6)
    data["camera"].update(max_outer=2, lbfgs_max_iter=6, batched_max_iterations=6)
    for stage in data["schedules"]["rest"]["stages"]:
        stage["batched_max_iterations"] = 6
    path = tmp_path_factory.mktemp("cfg") / "quick.yaml"
    path.write_text(yaml.safe_dump(data))
    return path
