"""The body-model layer: parity with smplx, SMPL/SMPL-H/SMPL-X loading, legacy pickles."""
from __future__ import annotations

import contextlib
import io
import pickle
import sys
import types

import numpy as np
import pytest
import smplx
import torch

from bodyfit.bodymodels.files import ModelFileError, find_model_file, read_model_file
from bodyfit.bodymodels.layer import BodyModel, BodyParams
from bodyfit.fileio.keypoint_layout import OPENPOSE
from tests.conftest import OPEN_FOLDER, randomize, synthetic_model_arrays


def random_params(model: BodyModel, batch: int, seed: int = 0) -> BodyParams:
    return randomize(model.zero_params(batch), seed, scale=0.5, transl_scale=1.0)


def test_parity_with_stock_smplx(open_model):
    params = random_params(open_model, 3)
    with contextlib.redirect_stdout(io.StringIO()):
        stock = smplx.create(str(OPEN_FOLDER), model_type="smplx", gender="neutral", use_pca=False,
                             flat_hand_mean=True, num_betas=10, num_expression_coeffs=10, batch_size=3)
    expected = stock(**params.as_dict(), return_verts=True)
    ours = open_model(params)
    assert torch.allclose(ours.vertices, expected.vertices, atol=1e-6)
    assert torch.allclose(ours.joints, expected.joints[:, :55], atol=1e-6)


@pytest.mark.parametrize("model_type,joints", [("smpl", 24), ("smplh", 52), ("smplx", 55)])
def test_loads_each_model_type(synthetic_folder, model_type, joints):
    folder = synthetic_folder(model_type)
    model = BodyModel(model_type, "neutral", folder)
    out = model(model.zero_params(2))
    arrays = synthetic_model_arrays(model_type)
    template = torch.as_tensor(arrays["v_template"], dtype=torch.float32)
    assert out.vertices.shape == (2, len(template), 3) and out.joints.shape == (2, joints, 3)
    assert torch.allclose(out.vertices[0], template, atol=1e-5)
    expected_joints = torch.as_tensor(arrays["J_regressor"] @ arrays["v_template"], dtype=torch.float32)
    assert torch.allclose(out.joints[0], expected_joints, atol=1e-5)
    assert torch.allclose(out.keypoints[0, OPENPOSE["RWrist"]], expected_joints[21], atol=1e-5)
    hands_valid = bool(out.keypoint_valid[26:46].all())
    assert hands_valid == (model_type != "smpl")
    assert bool(out.keypoint_valid[67:].all()) == (model_type == "smplx")


def test_smpl_pose_moves_only_its_subtree(synthetic_folder):
    """The synthetic SMPL skeleton is a chain (joint j's parent is j - 1): turning joint 21
    (the right wrist, body_pose[60:63]) moves joints 22 and 23 and nothing above it."""
    model = BodyModel("smpl", "neutral", synthetic_folder("smpl"))
    params = model.zero_params(1)
    params.body_pose[0, 60:63] = torch.tensor([0.0, 0.0, 1.0])
    out = model(params)
    rest = model(model.zero_params(1))
    assert torch.allclose(out.joints[0, :22], rest.joints[0, :22], atol=1e-6)
    moved = (out.joints[0, 22:] - rest.joints[0, 22:]).norm(dim=-1)
    offsets = (rest.joints[0, 22:] - rest.joints[0, 21]).norm(dim=-1)
    # a 1 rad turn about the wrist moves each child by 2 sin(0.5) x its distance off the axis
    assert bool((moved > 0.1 * offsets).all()) and bool((moved <= 2 * np.sin(0.5) * offsets + 1e-6).all())


def test_legacy_pickle_with_chumpy_arrays_loads_without_chumpy(tmp_path, synthetic_folder):
    arrays = synthetic_model_arrays("smpl")
    fake = types.ModuleType("chumpy.ch")

    class Ch:  # what a chumpy array pickles as: a class whose state carries the array as x
        def __init__(self, x):
            self.x = x

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    fake.Ch = Ch
    sys.modules["chumpy"] = types.ModuleType("chumpy")
    sys.modules["chumpy.ch"] = fake
    try:
        wrapped = {k: (Ch(v) if k in ("v_template", "shapedirs", "posedirs", "weights") else v)
                   for k, v in arrays.items()}
        path = tmp_path / "smpl" / "SMPL_NEUTRAL.pkl"
        path.parent.mkdir()
        path.write_bytes(pickle.dumps(wrapped, protocol=2))
    finally:
        del sys.modules["chumpy"], sys.modules["chumpy.ch"]
    data = read_model_file(path)
    assert isinstance(data["v_template"], np.ndarray)
    np.testing.assert_array_equal(data["v_template"], arrays["v_template"])
    model = BodyModel("smpl", "neutral", tmp_path)
    assert model(model.zero_params(1)).vertices.shape == (1, 6890, 3)


def test_smplx_pickle_loads(synthetic_folder):
    model = BodyModel("smplx", "neutral", synthetic_folder("smplx", suffix="pkl"))
    assert model(model.zero_params(1)).keypoints.shape == (1, 118, 3)


def test_pickle_with_foreign_class_is_refused(tmp_path):
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    path.write_bytes(pickle.dumps({"v_template": contextlib.nullcontext()}))
    with pytest.raises(ModelFileError, match="refusing to load contextlib"):
        read_model_file(path)


def test_missing_model_says_where_it_looked(tmp_path):
    with pytest.raises(ModelFileError, match="SMPL_MALE.pkl"):
        find_model_file(tmp_path, "smpl", "male")
    with pytest.raises(ModelFileError, match="open model ships SMPL-X only"):
        BodyModel("smpl", "neutral")


def test_not_a_model_file_is_refused(tmp_path):
    path = tmp_path / "SMPLX_NEUTRAL.npz"
    np.savez(path, something=np.zeros(3))
    with pytest.raises(ModelFileError, match="not a body model file"):
        read_model_file(path)


def test_bad_parameter_shape_is_reported(open_model):
    params = open_model.zero_params(2)
    params.body_pose = torch.zeros(2, 60)
    with pytest.raises(ValueError, match="body_pose"):
        open_model(params)
