"""Person tasks and the fitting core over them: picklable units of work, batches per body
model, starts from carried parameters, keypoints that cannot be in the image, and fits of
SMPL and SMPL-H files end to end."""
from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest
import torch
import yaml

from bodyfit.resources import config_path
from bodyfit.fileio.keypoint_layout import BODY, OPENPOSE
from bodyfit.fitting.config import load_config
from bodyfit.fitting.core import ModelBank, TaskQueue, fit_tasks
from bodyfit.fitting.initializers import FACING_CAMERA, rest_starts
from bodyfit.fitting.synthetic import case_targets, make_case
from bodyfit.fitting.tasks import INITIAL_WIDTHS, ModelKey, PersonFit, PersonTask, build_task, usable_keypoints
from bodyfit.geometry import pa_mpjpe
from bodyfit.priors.factory import make_body_pose_prior
from tests.conftest import CALIBRATED_VPOSER, REST


def quick(config, budget: int = 25):
    """The schedule with short stage budgets (plumbing tests)."""
    return dataclasses.replace(
        config, camera=dataclasses.replace(config.camera, batched_max_iterations=10),
        stages=tuple(dataclasses.replace(s, batched_max_iterations=budget) for s in config.stages))


def config_for(model_type: str, **changes):
    config = load_config(config_path(f"fit_{model_type}"), REST)
    return dataclasses.replace(config, **{"vposer": CALIBRATED_VPOSER, **changes})


def task_of(case, config, image_id="img", index=0, model=None, **identity) -> PersonTask:
    task, reason = build_task(case.observed, case.intrinsics, case.image_size, config, image_id, index, model,
                              **identity)
    assert task is not None, reason
    return task


def test_task_and_fit_survive_pickling(open_model):
    config = config_for("smplx")
    case = make_case(open_model, np.random.default_rng(0))
    task = task_of(case, config, track_id=3, frame_index=7, initial={"betas": np.ones(10)})
    again = pickle.loads(pickle.dumps(task))
    assert again.model == ModelKey("smplx", "neutral") and (again.track_id, again.frame_index) == (3, 7)
    np.testing.assert_array_equal(again.keypoints, task.keypoints)
    fit = pickle.loads(pickle.dumps(PersonFit.failed(task, "because")))
    assert (fit.status, fit.reason, fit.image_id, fit.frame_index) == ("failed", "because", "img", 7)


def test_model_key_refuses_unknown_values():
    with pytest.raises(ValueError, match="gender"):
        ModelKey("smplx", "other")
    with pytest.raises(ValueError, match="model_type"):
        ModelKey("smpl+", "neutral")


def test_keypoints_far_outside_the_image_do_not_count(open_model):
    config = config_for("smplx")
    case = make_case(open_model, np.random.default_rng(1), dropout=0.0)
    observed = case.observed.copy()
    observed[OPENPOSE["RWrist"], :2] = (1e12, -1e12)
    observed[OPENPOSE["LWrist"], :2] = (case.image_size[1] * 1.2, 10.0)  # a little outside: kept
    usable = usable_keypoints(observed, case.image_size, config)
    assert not usable[OPENPOSE["RWrist"]] and usable[OPENPOSE["LWrist"]]
    task, _ = build_task(observed, case.intrinsics, case.image_size, config, "img", 0)
    assert task.confidence[OPENPOSE["RWrist"]] == 0 and np.isfinite(task.keypoints).all()
    observed[BODY, :2] = 1e12  # every body point far away: the person is skipped, with the reason
    task, reason = build_task(observed, case.intrinsics, case.image_size, config, "img", 0)
    assert task is None and "far outside the image" in reason


def test_queue_batches_per_model_in_order():
    queue = TaskQueue(2)
    smpl, smplx = ModelKey("smpl"), ModelKey("smplx")
    tasks = [PersonTask(np.zeros((1, 2)), np.zeros(1), np.zeros(4), (1, 1), 1.0, f"i{k}", 0, key)
             for k, key in enumerate([smplx, smpl, smplx, smpl, smpl])]
    full = [queue.push(task) for task in tasks]
    assert full[0] is None and full[1] is None
    assert [t.image_id for t in full[2]] == ["i0", "i2"] and [t.image_id for t in full[3]] == ["i1", "i3"]
    assert [[t.image_id for t in batch] for batch in queue.drain()] == [["i4"]]


def test_a_carried_start_is_used_and_not_flipped(open_model):
    config = config_for("smplx", body_pose_prior="l2_angles")
    prior = make_body_pose_prior("l2_angles")
    case = make_case(open_model, np.random.default_rng(3), yaw_range=(90, 90))  # a side view: flipped from rest
    truth = {name: value[0].numpy() for name, value in case.params.as_dict().items()}
    targets = case_targets([case, case], config)
    starts = rest_starts(open_model, prior, config, targets, [truth, None])
    assert starts.rows.tolist() == [0, 1, 1]  # the carried person starts once, the other twice
    carried = starts.variables.index(torch.tensor([0]))
    for name in ("betas", "global_orient", "transl"):
        np.testing.assert_allclose(getattr(carried, name)[0].numpy(), truth[name], atol=1e-6)
    np.testing.assert_allclose(carried.latent[0].numpy(), truth["body_pose"], atol=1e-6)
    rest = starts.variables.index(torch.tensor([1]))
    np.testing.assert_allclose(rest.global_orient[0].numpy(), FACING_CAMERA, atol=1e-6)
    # a start that carries only a shape keeps SMPLify-X's two orientations for a side view
    starts = rest_starts(open_model, prior, config, targets, [{"betas": truth["betas"]}, None])
    assert starts.rows.tolist() == [0, 1, 0, 1]
    np.testing.assert_allclose(starts.variables.betas[2].numpy(), truth["betas"], atol=1e-6)


def test_carried_parameters_are_checked(open_model):
    config = config_for("smplx")
    case = make_case(open_model, np.random.default_rng(0))
    with pytest.raises(ValueError, match="unknown parameter 'body_poses'"):
        build_task(case.observed, case.intrinsics, case.image_size, config, "img", 0, initial={"body_poses": 0})
    with pytest.raises(ValueError, match=r"body_pose must be \(63,\)"):
        build_task(case.observed, case.intrinsics, case.image_size, config, "img", 0,
                   initial={"body_pose": np.zeros(69)})
    with pytest.raises(ValueError, match=r"keypoints must be \(K, 3\)"):
        build_task(case.observed[:, :2], case.intrinsics, case.image_size, config, "img", 0)


def test_every_initialiser_is_known_to_the_config():
    from bodyfit.fitting.config import INITIALIZER_NAMES, compose, parse_config
    from bodyfit.fitting.start_registry import INITIALIZERS

    assert set(INITIALIZERS) == set(INITIALIZER_NAMES)
    data = yaml.safe_load((config_path("fit_smplx")).read_text())
    assert set(data["schedules"]) == set(INITIALIZER_NAMES)  # a schedule per initialiser
    with pytest.raises(ValueError, match="init must be one of"):
        parse_config({**compose(data), "init": "nonsense"})
    with pytest.raises(ValueError, match="names no schedule"):
        compose(data, {"init": "nonsense"})


def body_error_mm(fits, cases) -> list[float]:
    fitted, truth = (torch.tensor(np.stack([x.keypoints_3d[BODY] for x in xs]), dtype=torch.float64) for xs in (fits, cases))
    return (1000 * pa_mpjpe(fitted, truth)).tolist()


def test_a_task_with_initial_parameters_starts_from_them(open_model):
    """With no iterations to run, a fit ends where it starts: at the carried parameters."""
    config = quick(config_for("smplx", body_pose_prior="l2_angles"), budget=0)
    config = dataclasses.replace(config, camera=dataclasses.replace(config.camera, batched_max_iterations=0))
    bank = ModelBank({"smplx": config})
    cases = [make_case(open_model, np.random.default_rng([7, k])) for k in range(3)]
    truth = [{name: value[0].numpy() for name, value in case.params.as_dict().items() if name in INITIAL_WIDTHS}
             for case in cases]
    carried = fit_tasks([task_of(c, config, f"c{k}", initial=t) for k, (c, t) in enumerate(zip(cases, truth))], bank)
    rest = fit_tasks([task_of(c, config, f"c{k}") for k, c in enumerate(cases)], bank)
    for fit, case in zip(carried, cases):
        np.testing.assert_allclose(fit.keypoints_3d[BODY], case.keypoints_3d[BODY], atol=1e-4)
    assert min(body_error_mm(rest, cases)) > 20


def test_several_models_in_one_run_each_loaded_once(open_model, open_body_folder, monkeypatch):
    configs = {name: quick(config_for(name), budget=3) for name in ("smpl", "smplx")}
    from bodyfit.fitting import core

    built = []

    class CountingModel(core.BodyModel):
        def __init__(self, *args, **kwargs):
            built.append(args[0])
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(core, "BodyModel", CountingModel)
    bank = ModelBank(configs, open_body_folder)
    bank._models[ModelKey("smplx")] = open_model  # the open SMPL-X model is not in that folder
    cases = [make_case(open_model, np.random.default_rng([8, k])) for k in range(3)]
    keys = [ModelKey("smpl"), ModelKey("smplx"), ModelKey("smpl")]
    tasks = [task_of(case, configs[key.model_type], f"c{k}", 0, key)
             for k, (case, key) in enumerate(zip(cases, keys))]
    batches = []
    fits = fit_tasks(tasks, bank, batch_size=8, on_batch=batches.append)
    assert [f.image_id for f in fits] == ["c0", "c1", "c2"] and all(f.status == "ok" for f in fits)
    assert [f.model.model_type for f in fits] == ["smpl", "smplx", "smpl"]
    assert [len(b) for b in batches] == [2, 1]  # one batch per model
    assert fits[0].vertices.shape == (13718, 3) and fits[0].joints.shape == (24, 3)
    assert fits[1].joints.shape == (55, 3)
    assert set(bank._models) == {ModelKey("smpl"), ModelKey("smplx")}
    fit_tasks(tasks[:1], bank, batch_size=8)  # a second call loads nothing again
    assert built == ["smpl"]


@pytest.mark.parametrize("model_type", ["smpl", "smplh"])
def test_fit_recovers_a_body_on_smpl_and_smplh_files(open_body_folder, model_type):
    """Synthetic recovery on files of each type: keypoints made by the model itself from known
    parameters, fitted with that type's default schedule (shorter stage budgets)."""
    config = quick(config_for(model_type), budget=40)
    bank = ModelBank({model_type: config}, open_body_folder)
    model = bank.model(ModelKey(model_type))
    cases = [make_case(model, np.random.default_rng([9, k]), yaw_range=(-45, 45)) for k in range(2)]
    tasks = [task_of(c, config, f"c{k}", model=ModelKey(model_type)) for k, c in enumerate(cases)]
    fits = fit_tasks(tasks, bank)
    start = dataclasses.replace(config, camera=dataclasses.replace(config.camera, batched_max_iterations=0),
                                stages=tuple(dataclasses.replace(s, batched_max_iterations=0) for s in config.stages))
    starts = fit_tasks(tasks, ModelBank({model_type: start}, open_body_folder))
    errors, before = body_error_mm(fits, cases), body_error_mm(starts, cases)
    assert np.mean(errors) < 0.6 * np.mean(before), (errors, before)
    assert np.median([f.reprojection_error_px for f in fits]) < 6
    assert np.median([f.reprojection_error_px for f in starts]) > 15
