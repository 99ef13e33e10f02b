"""Multi-view cases: seeded; consistent with their cameras (noise-free re-projection, a DLT
triangulation, the body model's own forward, the corpus clip's orientation); every camera on
the subject; feet on the ground; background people, false detections and occlusion where asked;
files that read back through the project's readers."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from bodyfit.fileio.calibration import read_pose2sim_toml
from bodyfit.fileio.images import read_image_size
from bodyfit.fileio.keypoint_layout import BODY, OPENPOSE
from bodyfit.fileio.openpose_json import read_openpose
from bodyfit.motion.cases import FULL_FRAME_DIAGONAL_MM, inside_image
from bodyfit.motion.corpus import load_corpus
from bodyfit.motion.multiview_cases import (MultiViewDistribution, hidden_behind, look_at, make_multiview_cases,
                                            object_occlusion, ring_angles)
from bodyfit.motion.multiview_files import frame_stem, write_case
from bodyfit.motion.sequences import SequenceDistribution

BUSY = MultiViewDistribution(length=20, background_share=1.0, false_rate=0.2)
NOISELESS = SequenceDistribution(jitter=(0.0, 0.0), drift=(0.0, 0.0), dropout_rate=(0.0, 0.0), swap_rate=0.0,
                                 hand_missing=0.0)
Y_UP_TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])  # +90 degrees about x: y -> z
CLEAN = MultiViewDistribution(length=12, background_share=0.0, false_rate=0.0, occlusion_rate=0.0,
                              distortion=True, distorted_share=1.0, noise=NOISELESS)


@pytest.fixture(scope="module")
def busy(open_model):
    return make_multiview_cases(open_model, 2, seed=5, dist=BUSY, cameras=4)


@pytest.fixture(scope="module")
def clean(open_model):
    return make_multiview_cases(open_model, 1, seed=2, dist=CLEAN, cameras=3)[0]


def projected(camera, points: np.ndarray) -> np.ndarray:
    """(T, K, 2) real-image pixels of world points (T, K, 3) (OpenCV takes contiguous arrays only)."""
    return camera.project(np.ascontiguousarray(points).reshape(-1, 3)).reshape(points.shape[:-1] + (2,))


def triangulate(case, identity: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """BODY_25 points (T, 25, 3) of ``identity`` by a confidence-weighted DLT of its undistorted
    detections in every camera, and where at least two cameras saw them (T, 25)."""
    tracks = {camera.name: case.track(camera.name, identity)[:, BODY] for camera in case.rig}
    points, enough = np.zeros((len(case), 25, 3)), np.zeros((len(case), 25), dtype=bool)
    for t in range(len(case)):
        for k in range(25):
            rows = []
            for camera in case.rig:
                x, y, confidence = tracks[camera.name][t, k]
                if confidence > 0:
                    (u, v), = camera.undistort(np.array([[x, y]]))
                    matrix = camera.projection
                    rows += [confidence * (u * matrix[2] - matrix[0]), confidence * (v * matrix[2] - matrix[1])]
            if len(rows) >= 4:
                solution = np.linalg.svd(np.array(rows))[2][-1]
                points[t, k], enough[t, k] = solution[:3] / solution[3], True
    return points, enough


def test_same_seed_same_case_other_seed_another(open_model, busy):
    again = make_multiview_cases(open_model, 1, seed=5, dist=BUSY, cameras=4)[0]
    case = busy[0]
    for name in case.rig.names:
        assert all(np.array_equal(a, b) for a, b in zip(again.observed[name], case.observed[name]))
        assert all(np.array_equal(a, b) for a, b in zip(again.identities[name], case.identities[name]))
        np.testing.assert_array_equal(again.rig[name].projection, case.rig[name].projection)
    np.testing.assert_array_equal(again.keypoints_3d, case.keypoints_3d)
    other = make_multiview_cases(open_model, 1, seed=6, dist=BUSY)[0]  # V drawn from (2, 8)
    assert 2 <= len(other.rig) <= 8 and other.rig.names == [f"cam{i:02d}" for i in range(1, len(other.rig) + 1)]
    assert not np.allclose(other.rig.cameras[0].projection, case.rig.cameras[0].projection)


def test_the_rig_is_a_ring_of_real_cameras_around_the_subject(busy):
    dist = BUSY
    for case in busy:
        target = case.keypoints_3d[:, BODY].mean((0, 1))
        angles = []
        for camera in case.rig:
            rotation = camera.rotation
            np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-9)
            assert np.linalg.det(rotation) == pytest.approx(1.0)
            offset = camera.center - target
            assert dist.radius[0] - 0.01 < np.hypot(*offset[:2]) < dist.radius[1] + 0.01
            assert dist.height[0] <= camera.center[2] <= dist.height[1]
            angles.append(math.atan2(offset[1], offset[0]))
            to_subject = -offset / np.linalg.norm(offset)  # the optical axis (R's third row) aims at it
            assert math.degrees(math.acos(rotation[2] @ to_subject)) < 5.0
            assert rotation[1] @ [0.0, 0.0, 1.0] < 0  # image y points down the world's Z
            height, width = camera.image_size
            focal_35mm = camera.matrix[0, 0] * FULL_FRAME_DIAGONAL_MM / math.hypot(width, height)
            assert dist.focal_35mm[0] - 1e-6 <= focal_35mm <= dist.focal_35mm[1] + 1e-6
            assert camera.image_size in dist.image_sizes and not camera.distorted
        gaps = np.diff(np.sort(np.degrees(angles)), append=np.sort(np.degrees(angles))[0] + 360)
        assert gaps.min() > dist.min_separation_deg - 0.5  # measured from the mean keypoint, ~ the ring centre


def test_ring_angles_keep_their_distance():
    rng = np.random.default_rng(0)
    for count in (2, 5, 8, 14):
        for _ in range(20):
            angles = np.sort(np.degrees(ring_angles(rng, count, 25.0)))
            assert np.diff(angles, append=angles[0] + 360).min() >= 25.0 - 1e-9
    with pytest.raises(ValueError, match="15 cameras cannot be 25.0 degrees apart"):
        ring_angles(rng, 15, 25.0)
    rotation = look_at(np.array([3.0, 0.0, 1.5]), np.array([0.0, 0.0, 1.5]))  # level, looking along -X
    np.testing.assert_allclose(rotation, [[0, 1, 0], [0, 0, -1], [-1, 0, 0]], atol=1e-12)


def test_every_camera_sees_the_subject(busy, clean):
    for case in busy + [clean]:
        for camera in case.rig:
            pelvis = projected(camera, case.joints_3d[:, :1])[:, 0]
            assert inside_image(pelvis, camera.image_size).mean() >= 0.9, camera.name
            assert np.all(camera.to_camera(case.joints_3d[:, 0])[:, 2] > 1.0)


def test_observations_reproject_from_the_truth(busy, clean):
    """Noise-free: the detections are the cameras' projections (distorted) exactly; noisy: within a
    few noise scales, for the subject and the background person alike."""
    for camera in clean.rig:
        track = clean.track(camera.name)
        seen = track[..., 2] > 0
        assert seen[:, BODY].mean() > 0.8 and camera.distorted
        error = np.abs(track[..., :2] - projected(camera, clean.keypoints_3d))[seen]
        assert error.max() < 1e-6
    for case in busy:
        for camera in case.rig:
            for identity, person in enumerate(case.people):
                track = case.track(camera.name, identity)[:, BODY]
                seen = track[..., 2] > 0
                if seen.sum() < 20:
                    continue
                error = np.linalg.norm(track[..., :2] - projected(camera, person.keypoints_3d[:, BODY]), axis=-1)
                jitter = case.jitter_px[camera.name][identity]
                assert 0.3 * jitter < np.median(error[seen]) < 3.0 * jitter, (camera.name, identity)


def test_triangulation_recovers_the_keypoints(busy, clean):
    points, enough = triangulate(clean)
    assert enough.mean() > 0.75  # faces turned away from all but one camera are not triangulated
    assert np.abs(points - clean.keypoints_3d[:, BODY])[enough].max() < 1e-4  # distorted cameras included
    points, enough = triangulate(busy[0])
    error = np.linalg.norm(points - busy[0].keypoints_3d[:, BODY], axis=-1)[enough]
    assert enough.mean() > 0.8 and np.median(error) < 0.05


def test_truth_is_the_body_model_on_the_ground_z_up(open_model, busy):
    clips = {clip.name: clip for clip in load_corpus("heldout")}
    mirror = np.diag([-1.0, 1.0, 1.0])
    for person in busy[0].people + busy[1].people:
        with torch.no_grad():  # the world parameters give the truth (oracle: the body model's forward)
            output = open_model(person.params)
        np.testing.assert_allclose(output.keypoints.double().numpy(), person.keypoints_3d, atol=2e-5)
        np.testing.assert_allclose(output.joints.double().numpy(), person.joints_3d, atol=2e-5)
        assert float(output.vertices[..., 2].min()) == pytest.approx(0.0, abs=1e-5)  # the lowest vertex touches
        assert 0.0 <= person.keypoints_3d[..., 2].min() < 0.05
        assert np.all(person.params.betas.numpy() == person.params.betas.numpy()[:1])
        # the clip's orientation, turned Z up and about the vertical (maybe mirrored): Y_up^T R_world
        # R_clip^T is one turn about the corpus's vertical Y, the same in every frame (R_up: y -> z)
        world = Rotation.from_rotvec(person.params.global_orient.double().numpy()).as_matrix()
        clip = Rotation.from_rotvec(clips[person.clip].poses[person.start:person.start + len(world), :3]).as_matrix()
        turns = [Y_UP_TO_Z_UP.T @ world @ flip @ clip.transpose(0, 2, 1) @ flip for flip in (np.eye(3), mirror)]
        assert any(np.allclose(turn[:, :, 1], [0.0, 1.0, 0.0], atol=1e-5) and np.allclose(turn, turn[:1], atol=1e-5)
                   for turn in turns)


def test_background_person_and_false_detections_where_asked(busy, clean):
    for case in busy:
        assert len(case.people) == 2
        subject, background = case.people
        assert np.linalg.norm(background.joints_3d[:, 0, :2] - subject.joints_3d[:, 0, :2], axis=-1).min() >= 1.0
        ids = {name: np.concatenate(case.identities[name]) for name in case.rig.names}
        assert any(np.any(i == 1) for i in ids.values()) and any(np.any(i == -1) for i in ids.values())
        assert all(np.isin(i, (-1, 0, 1)).all() for i in ids.values())
        for camera in case.rig:  # a camera reports the background person only where it is in view
            pixels = projected(camera, background.keypoints_3d[:, BODY])
            in_view = (inside_image(pixels.reshape(-1, 2), camera.image_size).reshape(len(case), 25).sum(1)
                       >= BUSY.min_points)
            detected = np.array([np.any(i == 1) for i in case.identities[camera.name]])
            assert not np.any(detected & ~in_view)
            for rows, frame_ids in zip(case.observed[camera.name], case.identities[camera.name]):
                assert len(rows) == len(frame_ids) and rows.shape[1:] == (case.keypoints_3d.shape[1], 3)
    orders = [frame_ids[0] for case in busy for name in case.rig.names for frame_ids in case.identities[name]
              if len(frame_ids) > 1]
    assert 0.2 < np.mean(np.array(orders) != 0) < 0.9  # shuffled: the subject is not always the first row
    assert len(clean.people) == 1
    assert all(np.array_equal(ids, [0]) for name in clean.rig.names for ids in clean.identities[name])


def test_occlusion_hides_the_farther_body():
    rng = np.random.default_rng(1)
    near = np.zeros((3, 25, 3))
    near[:, :, 1] = np.linspace(-0.8, 0.8, 25)  # a vertical column of points 3 m ahead
    near[:, :, 2] = 3.0
    far = near + [0.0, 0.0, 2.0]
    torso = [OPENPOSE[name] for name in ("Neck", "MidHip")]
    near[:, torso[0], 1], near[:, torso[1], 1] = -0.6, 0.2  # the occluder's spine spans those rows
    assert hidden_behind(far, near, 1000.0)[:, 5:15].all()  # behind its spine
    assert not hidden_behind(near, far, 1000.0).any()  # the nearer body is never hidden by the farther
    assert not hidden_behind(far + [2.0, 0.0, 0.0], near, 1000.0).any()  # beside it
    hidden = object_occlusion(rng, 40, 118, 1.0, (5, 20))
    frames = np.flatnonzero(hidden.any(1))
    assert 1 <= len(frames) <= 20 and np.all(np.diff(frames) == 1)
    assert not object_occlusion(rng, 40, 118, 0.0, (5, 20)).any()


def test_write_case_reads_back(tmp_path, busy):
    case = busy[0]
    write_case(case, tmp_path)
    rig = read_pose2sim_toml(tmp_path / "Calib.toml")
    assert rig.names == case.rig.names
    for camera in case.rig:
        read = rig[camera.name]
        assert read.image_size == camera.image_size
        for field in ("matrix", "distortion", "rotation", "translation"):
            np.testing.assert_allclose(getattr(read, field), getattr(camera, field), atol=1e-12)
    stems = {camera: sorted(p.name for p in (tmp_path / "keypoints" / camera).iterdir()) for camera in rig.names}
    expected = [f"{frame_stem(t)}_keypoints.json" for t in range(len(case))]
    assert all(names == expected for names in stems.values())
    for camera in case.rig:
        for t, rows in enumerate(case.observed[camera.name]):
            people = read_openpose(tmp_path / "keypoints" / camera.name / expected[t], allow_empty=True)
            assert len(people) == len(rows)
            for person, row in zip(people, rows):
                np.testing.assert_allclose(person.to_layout(), row, atol=1e-4)
        images = sorted((tmp_path / "images" / camera.name).iterdir())
        assert [p.stem for p in images] == [frame_stem(t) for t in range(len(case))]
        assert read_image_size(images[0]) == camera.image_size and images[0].stat().st_size < 100_000
    with np.load(tmp_path / "truth.npz") as truth:
        np.testing.assert_array_equal(truth["person1_keypoints_3d"], case.people[1].keypoints_3d)
        np.testing.assert_array_equal(truth["person0_global_orient"], case.params.global_orient.double().numpy())
        identities = truth[f"identities_{case.rig.names[0]}"]
        for t, frame_ids in enumerate(case.identities[case.rig.names[0]]):
            np.testing.assert_array_equal(identities[t, :len(frame_ids)], frame_ids)


def test_bad_requests_are_refused(open_model):
    with pytest.raises(ValueError, match="count must be at least 0, got -1"):
        make_multiview_cases(open_model, -1, seed=0)
    with pytest.raises(ValueError, match="cameras must be at least 1, got 0"):
        make_multiview_cases(open_model, 1, seed=0, cameras=0)
    with pytest.raises(ValueError, match=r"got \(3, 2\)"):
        make_multiview_cases(open_model, 1, seed=0, dist=MultiViewDistribution(cameras=(3, 2)))
