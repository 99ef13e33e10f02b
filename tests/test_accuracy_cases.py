"""The realistic case generator (``motion.cases``) and the accuracy benchmark's
catastrophic flag: the same seed gives the same cases; each case's bins hold when checked by
other means (the source pose re-posed, hip order in the image, hidden faces); bodies fill the
share of the frame they were placed to; points outside the frame are unseen; the noise
follows the body's size in pixels."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from benchmarks.accuracy import case_metrics, error_2d_px, is_catastrophic
from bodyfit.resources import config_path
from bodyfit.fileio.keypoint_layout import BODY, FACE, LEFT_HAND, OPENPOSE, RIGHT_HAND
from bodyfit.motion.cases import BENT_DEG, CaseDistribution, camera_rotation, load_pose_pool, make_cases
from bodyfit.fitting.tasks import ModelKey, PersonFit
from bodyfit.motion.corpus import load_corpus, mirror_body_pose

DIST = CaseDistribution(truncated_share=0.3, bent_share=0.3)


@pytest.fixture(scope="module")
def pool(open_model):
    return load_pose_pool(open_model, DIST.split, DIST.frame_stride)


@pytest.fixture(scope="module")
def cases(open_model, pool):
    return make_cases(open_model, 32, seed=3, dist=DIST, pool=pool)


def pixels_of(points: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """(N, 2) pinhole projection of camera-frame points (N, 3), written out here."""
    fx, fy, cx, cy = intrinsics
    return np.column_stack([fx * points[:, 0] / points[:, 2] + cx, fy * points[:, 1] / points[:, 2] + cy])


def outside(pixels: np.ndarray, image_size) -> np.ndarray:
    height, width = image_size
    return (pixels[:, 0] < 0) | (pixels[:, 0] >= width) | (pixels[:, 1] < 0) | (pixels[:, 1] >= height)


def test_same_seed_same_cases(open_model, pool, cases):
    again = make_cases(open_model, 3, seed=3, dist=DIST, pool=pool)
    other = make_cases(open_model, 3, seed=4, dist=DIST, pool=pool)
    for first, second in zip(cases[:3], again):
        np.testing.assert_array_equal(first.observed, second.observed)
        np.testing.assert_array_equal(first.params.body_pose.numpy(), second.params.body_pose.numpy())
        assert first.describe() == second.describe()
    assert not np.array_equal(cases[0].observed, other[0].observed)


def test_every_bin_is_drawn(cases):
    assert {c.view for c in cases} == {"front", "side", "back"}
    assert {c.posture for c in cases} == {"upright", "bent"}
    assert {c.truncated for c in cases} == {True, False}


def test_camera_pitch_and_roll_signs():
    level = camera_rotation(0.0, 0.0)
    np.testing.assert_allclose(level, np.diag([1.0, -1.0, -1.0]), atol=1e-12)  # y down, facing the body
    up = camera_rotation(-30.0, 0.0) @ [0.0, 1.0, 0.0]  # looking down: up leans away from the view axis
    np.testing.assert_allclose(up, [0.0, -np.cos(np.radians(30)), -0.5], atol=1e-12)
    rolled = camera_rotation(0.0, 10.0) @ [0.0, 1.0, 0.0]
    np.testing.assert_allclose(rolled, [np.sin(np.radians(10)), -np.cos(np.radians(10)), 0.0], atol=1e-12)
    # roll turns the image about the optical axis after the pitch: up keeps its view-axis part
    both = camera_rotation(-30.0, 10.0) @ [0.0, 1.0, 0.0]
    level_part = np.cos(np.radians(30)) * np.array([np.sin(np.radians(10)), -np.cos(np.radians(10))])
    np.testing.assert_allclose(both, [*level_part, -0.5], atol=1e-12)


def source_pose(name: str) -> np.ndarray:
    """(66,) the corpus pose a case's ``source`` (clip:frame[:mirrored]) names."""
    clip, frame, *mirrored = name.split(":")
    pose = next(c for c in load_corpus("heldout") if c.name == clip).poses[int(frame)][None]
    return (mirror_body_pose(pose) if mirrored else pose)[0]


def test_trunk_flexion_from_the_source_pose(open_model, cases):
    for case in cases[:12]:
        params = open_model.zero_params(1)
        pose = source_pose(case.source)
        params.global_orient[0], params.body_pose[0] = torch.as_tensor(pose[:3]), torch.as_tensor(pose[3:])
        params.betas[:] = case.params.betas
        with torch.no_grad():
            joints = open_model(params).joints[0].numpy().astype(np.float64)
        trunk = joints[12] - joints[0]  # neck - pelvis, world frame (Y up)
        flexion = np.degrees(np.arccos(trunk[1] / np.linalg.norm(trunk)))
        assert flexion == pytest.approx(case.trunk_flexion_deg, abs=0.05)
        assert (case.posture == "bent") == (flexion > BENT_DEG)
        # the same angle from the camera-frame keypoints and the camera's up
        up = camera_rotation(case.camera.pitch_deg, case.camera.roll_deg) @ [0.0, 1.0, 0.0]
        kp_trunk = case.keypoints_3d[OPENPOSE["Neck"]] - case.keypoints_3d[OPENPOSE["MidHip"]]
        in_camera = np.degrees(np.arccos(kp_trunk @ up / np.linalg.norm(kp_trunk)))
        assert in_camera == pytest.approx(flexion, abs=0.05)


def test_views_from_hip_order_and_hidden_faces(cases):
    face = np.r_[np.arange(FACE.start, FACE.stop), [OPENPOSE[n] for n in ("Nose", "REye", "LEye")]]
    for case in cases:
        if case.view == "back":
            assert case.face_hidden and (case.observed[face, 2] == 0).all()
        if case.posture != "upright" or 30 < abs(case.view_yaw_deg) < 150:
            continue
        left, right = case.keypoints_2d[OPENPOSE["LHip"], 0], case.keypoints_2d[OPENPOSE["RHip"], 0]
        # facing the camera, the subject's left hip is on the image's right; from behind, its left
        assert (left > right) == (abs(case.view_yaw_deg) <= 30), case.case_id
    assert any(c.view == "back" for c in cases)


def test_body_fills_the_drawn_share_of_the_frame(cases):
    for case in cases:
        nearest = float(case.vertices[:, 2].min())
        # below the drawn range only where the body came as near as the camera may be
        low, high = DIST.fill[0], DIST.fill[1] / (1 - DIST.cut[1] if case.cut_side else 1)
        assert case.fill <= high + 1e-6
        assert case.fill >= low or nearest == pytest.approx(DIST.min_distance, abs=1e-3)
        if case.cut_side is not None:  # placed centred, then shifted sideways: perspective changes its box
            continue
        assert not case.truncated, case.case_id
        pixels = pixels_of(case.vertices.astype(np.float64), case.intrinsics)
        height, width = case.image_size
        extent = pixels.max(0) - pixels.min(0)
        assert max(extent[0] / width, extent[1] / height) == pytest.approx(case.fill, rel=0.002), case.case_id
        assert nearest >= DIST.min_distance - 1e-3


def test_points_outside_the_frame_are_unseen(cases):
    truncated = [c for c in cases if c.truncated]
    assert 0.1 * len(cases) <= len(truncated) <= 0.6 * len(cases)
    for case in cases:
        cut = outside(pixels_of(case.keypoints_3d, case.intrinsics), case.image_size)
        assert (case.observed[cut, 2] == 0).all()
        assert case.truncated == bool(cut[BODY].any()), case.case_id
        seen = case.observed[:, 2] > 0
        assert not outside(case.observed[seen, :2], case.image_size).any()


def test_noise_follows_body_height(cases):
    share = np.array([c.noise_px / c.body_height_px for c in cases])
    assert ((share >= DIST.body_noise[0]) & (share <= DIST.body_noise[1])).all()
    heights = np.array([c.body_height_px for c in cases])
    assert heights.max() > 1.5 * heights.min()
    body, detail = [], []
    for case in cases:
        seen = case.observed[:, 2] > 0
        residual = (case.observed[:, :2] - case.keypoints_2d) / case.noise_px
        body.append(residual[BODY][seen[BODY]])
        for part in (LEFT_HAND, RIGHT_HAND, FACE):
            detail.append(residual[part][seen[part]])
    # per-point sigma = case sigma * (0.5 + U(0, 1)): RMS 1.04 per axis for the body, 2-3x that elsewhere
    body_rms, detail_rms = (float(np.sqrt(np.mean(np.concatenate(r) ** 2))) for r in (body, detail))
    assert 0.85 < body_rms < 1.25
    assert 2.0 < detail_rms < 3.4
    # noisier points are less confident
    points = np.concatenate([np.linalg.norm(r, axis=1) for r in body])
    confidence = np.concatenate([c.observed[BODY, 2][c.observed[BODY, 2] > 0] for c in cases])
    assert np.corrcoef(points, confidence)[0, 1] < -0.1
    assert confidence.min() >= DIST.min_confidence - 1e-9


def test_upright_body_height_matches_its_image(cases):
    upright = [c for c in cases if c.posture == "upright" and not c.truncated and c.trunk_flexion_deg < 15]
    assert upright
    for case in upright:
        pixels = pixels_of(case.vertices.astype(np.float64), case.intrinsics)
        assert (pixels[:, 1].max() - pixels[:, 1].min()) == pytest.approx(case.body_height_px, rel=0.3)


@pytest.mark.parametrize("share, flagged", [(0.10, True), (0.01, False)])
def test_catastrophic_flag(cases, share, flagged):
    case = next(c for c in cases if not c.truncated)
    angle = np.random.default_rng(0).uniform(0, 2 * np.pi, len(case.keypoints_2d))
    shift = share * case.body_height_px * np.column_stack([np.cos(angle), np.sin(angle)])
    error = error_2d_px(case.keypoints_2d + shift, case)
    assert error == pytest.approx(share * case.body_height_px)
    assert is_catastrophic(error, case.body_height_px) is flagged


def test_the_truth_scores_zero(cases):
    case = cases[0]
    truth = PersonFit(case.case_id, 0, ModelKey(), "ok", vertices=case.vertices, keypoints_3d=case.keypoints_3d,
                      keypoints_2d=case.keypoints_2d)
    metrics = case_metrics(case, truth)
    assert not metrics.pop("catastrophic")
    for name, value in metrics.items():
        assert value == pytest.approx(0.0, abs=1e-3), name


def test_distribution_is_frozen_data():
    with pytest.raises(dataclasses.FrozenInstanceError):
        DIST.fill = (0.1, 0.2)  # type: ignore[misc]


def test_a_case_can_start_a_fit_from_its_truth(cases):
    """The benchmark's oracle start: every case's true parameters are a valid task start."""
    from bodyfit.fitting.config import load_config
    from bodyfit.fitting.tasks import build_task

    config = load_config(config_path("fit_smplx"))
    for case in cases[:4]:
        task, reason = build_task(case.observed, case.intrinsics, case.image_size, config, case.case_id, 0,
                                  initial=case.initial_params())
        assert task is not None, reason
        np.testing.assert_allclose(task.initial["body_pose"], case.params.body_pose[0].numpy(), atol=1e-6)
