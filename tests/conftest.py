"""Shared fixtures: the open model, and small synthetic SMPL-family files."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bodymodels.layer import BodyModel

REPO = Path(__file__).resolve().parents[1]
OPEN_FOLDER = REPO / "models" / "open"

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
