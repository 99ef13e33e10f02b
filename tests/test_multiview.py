"""Multi-view fitting: triangulation, matching people across views, tracking, the world-frame
fit, and ``fit.py --cameras`` end to end on synthetic rigs with exact ground truth."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from bodyfit.bodymodels.layer import BodyModel
from bodyfit.cli import fit as fit_cli
from bodyfit.fileio.calibration import read_calibration, write_pose2sim_toml
from bodyfit.fileio.cameras import Camera
from bodyfit.fileio.images import write_png
from bodyfit.fileio.keypoint_layout import BODY
from bodyfit.fileio.keypoint_layout import OPENPOSE
from bodyfit.fileio.trc import read_trc
from bodyfit.geometry import pa_mpjpe
from bodyfit.motion.multiview_cases import MultiViewDistribution, make_multiview_cases
from bodyfit.motion.multiview_files import write_case
from bodyfit.multiview.config import load_multiview_config
from bodyfit.multiview.fit import median_bone_lengths, torso_starts
from bodyfit.multiview.matching import MatchedPerson, ViewDetections, epipolar_distances, match_instant
from bodyfit.multiview.tracking import track_people_3d
from bodyfit.multiview.strategy import InstantDetections, leave_one_out, reconstruct
from bodyfit.multiview.triangulation import triangulate, triangulate_robust
from bodyfit.regressor.body import body_points
from bodyfit.resources import config_path

CONFIG = load_multiview_config(config_path("multiview"))


@pytest.fixture(scope="module")
def model() -> BodyModel:
    return BodyModel("smplx", "neutral")


def ring(count: int, radius: float = 4.0) -> list[Camera]:
    """Cameras on a ring at 1.5 m looking at (0, 0, 1), Z up."""
    cameras = []
    for index in range(count):
        angle = 2 * np.pi * index / count
        center = np.array([radius * np.cos(angle), radius * np.sin(angle), 1.5])
        forward = (np.array([0.0, 0.0, 1.0]) - center) / np.linalg.norm(np.array([0.0, 0.0, 1.0]) - center)
        right = np.cross(forward, [0.0, 0.0, 1.0])
        right /= np.linalg.norm(right)
        rotation = np.stack([right, np.cross(forward, right), forward])
        cameras.append(Camera(f"cam{index}", (1000, 800), np.array([[1000.0, 0, 400], [0, 1000.0, 500], [0, 0, 1]]),
                              np.zeros(5), rotation, -rotation @ center))
    return cameras


def detections_of(case) -> list[InstantDetections]:
    empty = np.zeros((0, 25, 3))
    return [InstantDetections.of(case.rig, [case.observed[c.name][t][:, BODY] if len(case.observed[c.name][t])
                                            else empty for c in case.rig]) for t in range(len(case))]


def test_triangulation_is_exact_and_drops_a_wrong_view():
    cameras = ring(4)
    points = np.random.default_rng(0).normal(scale=0.4, size=(25, 3)) + [0, 0, 1]
    pixels = np.stack([c.project_pinhole(points) for c in cameras])
    weights = np.ones((4, 25))
    np.testing.assert_allclose(triangulate(cameras, pixels, weights), points, atol=1e-9)
    weights[:3, 7] = 0  # seen by one camera only: unknown
    pixels[1, 3] += [150.0, -80.0]  # one view of one point is wrong
    robust, used = triangulate_robust(cameras, pixels, weights, np.full(4, 10.0))
    assert np.isnan(robust[7]).all()
    np.testing.assert_allclose(np.delete(robust, 7, axis=0), np.delete(points, 7, axis=0), atol=1e-6)
    assert used[1, 3] == 0 and used[[0, 2, 3], 3].all()
    plain = triangulate(cameras, pixels, weights)
    assert np.linalg.norm(plain[3] - points[3]) > 0.01  # the plain DLT is dragged by it


def test_epipolar_distance_tells_people_apart():
    cameras = ring(3)
    rng = np.random.default_rng(1)
    a, b = rng.normal(scale=0.3, size=(2, 25, 3)) + [[[0.0, 0, 1]], [[1.0, 0.5, 1]]]
    views = [ViewDetections(np.stack([c.project_pinhole(a), c.project_pinhole(b)]), np.ones((2, 25)))
             for c in cameras]
    distance = epipolar_distances(cameras[0], cameras[1], views[0], views[1], CONFIG.matching)
    assert distance[0, 0] < 1e-9 and distance[1, 1] < 1e-9
    assert distance[0, 1] > CONFIG.matching.epipolar_threshold and distance[1, 0] > CONFIG.matching.epipolar_threshold
    swapped = [ViewDetections(v.pixels[::-1].copy(), v.confidence) if i == 2 else v for i, v in enumerate(views)]
    people = match_instant(cameras, swapped, CONFIG.matching)
    assert len(people) == 2
    for person in people:  # each person has one detection per camera, the right one
        truth = a if np.linalg.norm(person.points - a) < np.linalg.norm(person.points - b) else b
        np.testing.assert_allclose(person.points, truth, atol=1e-6)
        assert person.views == 3


@pytest.fixture(scope="module")
def crowded_case(model):
    dist = MultiViewDistribution(length=24, background_share=1.0, false_rate=0.15)
    return make_multiview_cases(model, 1, 3, dist, cameras=4)[0]


@pytest.fixture(scope="module")
def crowded_result(model, crowded_case):
    return reconstruct(model, crowded_case.rig, detections_of(crowded_case), CONFIG)


def identities_of(case, result, track) -> set[int]:
    """The true identities of every detection a track holds."""
    return {int(case.identities[case.rig.names[view]][instant][detection])
            for instant, index in track.people.items()
            for view, detection in result.matched[instant][index].detections.items()}


def test_matching_and_tracking_keep_identities(crowded_case, crowded_result):
    case, result = crowded_case, crowded_result
    for instant, people in enumerate(result.matched):
        for person in people:  # no person made of two people's (or false) detections
            ids = {int(case.identities[case.rig.names[v]][instant][d]) for v, d in person.detections.items()}
            assert len(ids) == 1 and -1 not in ids
    owners = []
    for track in result.tracks:
        ids = identities_of(case, result, track)
        assert len(ids) == 1  # no identity switch
        owners.append(ids.pop())
    assert owners.count(0) == 1  # the subject is one track
    assert len(result.tracks[owners.index(0)].people) >= 0.9 * len(case)


def test_world_fit_recovers_the_subject(crowded_case, crowded_result):
    case, result = crowded_case, crowded_result
    track = next(i for i, t in enumerate(result.tracks) if identities_of(case, result, t) == {0})
    fit = result.fits[track]
    truth = case.keypoints_3d[fit.instants][:, BODY]
    world = np.linalg.norm(fit.keypoints_3d - truth, axis=-1).mean() * 1000
    pa = pa_mpjpe(torch.as_tensor(fit.keypoints_3d), torch.as_tensor(truth)).mean().item() * 1000
    triangulated = result.observations[track].points
    finite = np.isfinite(triangulated).all(-1)
    baseline = np.linalg.norm(triangulated[finite] - truth[finite], axis=-1).mean() * 1000
    assert world < 45 and pa < 40, (world, pa)
    assert world < baseline  # the body does better than the triangulated points it started from
    bones = median_bone_lengths(truth)  # the one shape per track has the subject's bone lengths
    fitted = median_bone_lengths(fit.keypoints_3d)
    assert np.nanmean(np.abs(fitted - bones)) < 0.02, np.abs(fitted - bones)


@pytest.mark.slow
def test_leave_one_camera_out_scores_a_camera_it_did_not_see(model):
    case = make_multiview_cases(model, 1, 5, MultiViewDistribution(length=12, background_share=0.0,
                                                                     false_rate=0.0), cameras=3)[0]
    result = reconstruct(model, case.rig, detections_of(case), CONFIG)
    errors = leave_one_out(model, case.rig, result.observations, CONFIG)
    subject = int(np.argmax([len(t.people) for t in result.tracks]))
    values = errors[subject][np.isfinite(errors[subject])]
    assert len(values) > 0.8 * errors[subject].size
    jitter = float(np.median(np.concatenate(list(case.jitter_px.values()))))
    assert 0.5 * jitter < np.median(values) < 6 * jitter  # a real 2D error, near the detector's noise
    two = dataclasses.replace(case.rig, cameras=case.rig.cameras[:2])
    assert np.isnan(leave_one_out(model, two, [dataclasses.replace(
        o, pixels=o.pixels[:, :2], weights=o.weights[:, :2]) for o in result.observations], CONFIG)[0]).all()


@pytest.fixture(scope="module")
def written_case(model, tmp_path_factory):
    case = make_multiview_cases(model, 1, 7, MultiViewDistribution(length=12, background_share=0.0,
                                                                     false_rate=0.0), cameras=3)[0]
    folder = tmp_path_factory.mktemp("rig")
    write_case(case, folder)
    return case, folder


def test_fit_cameras_end_to_end(written_case, tmp_path):
    case, folder = written_case
    output = tmp_path / "out"
    code = fit_cli.main(["--cameras", str(folder / "Calib.toml"), "--images", str(folder / "images"),
                         "--keypoints", str(folder / "keypoints"), "--output", str(output), "--fps", "30", "--quiet"])
    assert code == 0
    summary = json.loads((output / "summary.json").read_text())
    assert summary["counts"]["ok"] == len(case) and summary["multiview"]["cameras"] == case.rig.names
    result = np.load(output / "results" / "frame_000005" / "000.npz")
    truth = case.keypoints_3d[5, BODY]
    assert np.linalg.norm(result["keypoints_3d"] - truth, axis=-1).mean() < 0.06  # world frame, metres
    assert result["keypoints_2d"].shape == (3, 25, 2) and list(result["camera_names"]) == case.rig.names
    seen = result["observed_2d"][..., 2] > 0
    assert np.median(np.linalg.norm(result["keypoints_2d"] - result["observed_2d"][..., :2], axis=-1)[seen]) < 20
    assert (output / "images" / "frame_000005.png").is_file() and (output / "report.html").is_file()
    track = np.load(output / "tracks" / "000.npz")
    markers = read_trc(output / "tracks" / "000.trc")
    assert markers.names[:2] == ["Nose", "Neck"] and markers.units == "m"
    np.testing.assert_allclose(np.diff(markers.times), 1 / 30)
    nose = markers.markers[5, 0]  # OpenSim's Y up: the world's Z (height) is the marker's Y
    np.testing.assert_allclose([nose[2], nose[0], nose[1]], track["keypoints_3d"][5, 0], atol=1e-6)
    assert nose[1] > markers.markers[5, OPENPOSE["RAnkle"], 1] + 0.5  # the head above the ankle
    index = json.loads((output / "tracks" / "index.json").read_text())
    assert index["frame_000005"] == {"000": 0}


def test_a_rig_that_disagrees_with_its_folders_is_refused(written_case, tmp_path):
    case, folder = written_case

    def fails(calibration, images, message):
        with pytest.raises(SystemExit) as error:
            fit_cli.main(["--cameras", str(calibration), "--images", str(images), "--keypoints",
                          str(folder / "keypoints"), "--output", str(tmp_path / "out"), "--quiet"])
        assert message in str(error.value) and "\n" not in str(error.value)

    rig = read_calibration(folder / "Calib.toml")
    extra = dataclasses.replace(rig.cameras[0], name="cam09")
    write_pose2sim_toml(dataclasses.replace(rig, cameras=rig.cameras + [extra]), tmp_path / "more.toml")
    fails(tmp_path / "more.toml", folder / "images", "no folder for camera 'cam09'")
    write_pose2sim_toml(dataclasses.replace(rig, cameras=rig.cameras[:2]), tmp_path / "fewer.toml")
    fails(tmp_path / "fewer.toml", folder / "images", "a folder of images for a camera that")
    resized = dataclasses.replace(rig.cameras[0], image_size=(100, 200))
    write_pose2sim_toml(dataclasses.replace(rig, cameras=[resized] + rig.cameras[1:]), tmp_path / "size.toml")
    fails(tmp_path / "size.toml", folder / "images", "gives camera 'cam01' 200x100")
    (tmp_path / "bad.toml").write_text("[cam01]\nname = 'cam01'\nsize = [10, 10]\n")
    fails(tmp_path / "bad.toml", folder / "images", "bad.toml")


def test_an_unreadable_view_does_not_stop_the_run(written_case, tmp_path):
    case, folder = written_case
    keypoints = tmp_path / "keypoints"
    for camera in case.rig.names:
        (keypoints / camera).mkdir(parents=True)
        for path in (folder / "keypoints" / camera).iterdir():
            (keypoints / camera / path.name).write_bytes(path.read_bytes())
    broken = keypoints / case.rig.names[0] / "frame_000003_keypoints.json"
    broken.write_text("{not json")
    output = tmp_path / "out"
    fit_cli.main(["--cameras", str(folder / "Calib.toml"), "--images", str(folder / "images"), "--keypoints",
                  str(keypoints), "--output", str(output), "--no-overlay", "--quiet"])
    record = json.loads((output / "results" / "frame_000003" / "image.json").read_text())
    assert record["status"] == "ok" and case.rig.names[0] in record["view_errors"]
    assert "frame_000003_keypoints.json" in record["view_errors"][case.rig.names[0]]


def test_a_png_of_another_size_is_named(written_case, tmp_path):
    case, folder = written_case
    images = tmp_path / "images"
    for camera in case.rig.names:
        (images / camera).mkdir(parents=True)
        for path in sorted((folder / "images" / camera).iterdir())[:2]:
            (images / camera / path.name).write_bytes(path.read_bytes())
    later = sorted((images / case.rig.names[1]).iterdir())[1]  # every frame is checked, not only the first
    later.unlink()
    write_png(later.with_suffix(".png"), np.zeros((10, 20, 3), dtype=np.uint8))
    with pytest.raises(SystemExit) as error:
        fit_cli.main(["--cameras", str(folder / "Calib.toml"), "--images", str(images), "--keypoints",
                      str(folder / "keypoints"), "--output", str(tmp_path / "out"), "--quiet"])
    assert later.with_suffix(".png").name in str(error.value) and "20x10" in str(error.value)


def test_torso_start_recovers_a_turned_and_moved_body(model):
    betas = torch.zeros(10)
    rotation = torch.as_tensor(Rotation.from_rotvec([0.3, -1.2, 2.0]).as_matrix(), dtype=torch.float32)
    transl = torch.tensor([0.5, -1.0, 0.9])
    rotations = torch.eye(3).repeat(1, 22, 1, 1)
    rotations[0, 0] = rotation
    _, keypoints = body_points(model, rotations, betas[None], transl[None])
    points = keypoints.numpy().astype(np.float64)
    points[0, OPENPOSE["LHip"]] = np.nan  # a torso point missing
    found_rotation, found_transl = torso_starts(model, points, betas)
    np.testing.assert_allclose(found_rotation[0].numpy(), rotation.numpy(), atol=1e-4)
    np.testing.assert_allclose(found_transl[0].numpy(), transl.numpy(), atol=1e-4)


def test_nested_overrides_keep_the_other_weights(tmp_path):
    config = load_multiview_config(config_path("multiview"), {"fit": {"weights": {"shape": 0.5}}})
    assert config.fit.weights.shape == 0.5
    assert config.fit.weights.joint_acceleration == CONFIG.fit.weights.joint_acceleration
    (tmp_path / "bad.yaml").write_text("fit:\n  weights:\n    keypoints3d: 1.0\n")
    with pytest.raises(ValueError, match="bad.yaml.*keypoints3d"):
        load_multiview_config(tmp_path / "bad.yaml")


@pytest.mark.slow
def test_distorted_two_camera_rig(model):
    """Lens distortion honoured end to end, on the sparsest rig: two cameras."""
    dist = MultiViewDistribution(length=16, background_share=0.0, false_rate=0.0, distortion=True,
                                 distorted_share=1.0, k1=(-0.1, -0.08))
    case = make_multiview_cases(model, 1, 11, dist, cameras=2)[0]
    assert all(camera.distorted for camera in case.rig)
    result = reconstruct(model, case.rig, detections_of(case), CONFIG)
    subject = int(np.argmax([len(t.people) for t in result.tracks]))
    fit = result.fits[subject]
    truth = case.keypoints_3d[fit.instants][:, BODY]
    assert np.linalg.norm(fit.keypoints_3d - truth, axis=-1).mean() < 0.08
    ignored = dataclasses.replace(case.rig, cameras=[dataclasses.replace(c, distortion=np.zeros(5)) for c in case.rig])
    blind = reconstruct(model, ignored, detections_of(dataclasses.replace(case, rig=ignored)), CONFIG)
    worse = blind.fits[int(np.argmax([len(t.people) for t in blind.tracks]))]
    assert np.linalg.norm(worse.keypoints_3d - truth, axis=-1).mean() > np.linalg.norm(
        fit.keypoints_3d - truth, axis=-1).mean()  # ignoring the lens costs accuracy


def test_a_person_lost_for_a_while_keeps_one_track():
    rng = np.random.default_rng(4)
    body = rng.normal(scale=0.3, size=(25, 3))
    config = dataclasses.replace(CONFIG.tracking, min_length=3)

    def person(offset):
        return MatchedPerson({0: 0, 1: 0}, body + offset, np.ones((2, 25)), np.ones((2, 25)), np.full(25, 60.0))

    walker = [[person([0.02 * t, 0.0, 1.0])] if not 20 <= t < 60 else [] for t in range(80)]  # gone for 40
    both = [people + [person([5.0, 3.0, 1.0])] if t >= 65 else people for t, people in enumerate(walker)]
    tracks = track_people_3d(both, config)
    assert len(tracks) == 2
    assert sorted(tracks[0].people) == [t for t in range(80) if not 20 <= t < 60]
    assert sorted(tracks[1].people) == list(range(65, 80))  # a newcomer far away is not the lost walker
    alone = track_people_3d(walker, dataclasses.replace(config, relink_gap=0))
    assert len(alone) == 2  # without relinking the gap splits the walker


@pytest.mark.slow
def test_one_video_per_camera(written_case, tmp_path):
    pytest.importorskip("av", reason="--video needs PyAV (the video extra)")
    from bodyfit.fileio.images import read_image
    from bodyfit.fileio.video import frame_name, write_video

    case, folder = written_case
    videos, keypoints = tmp_path / "videos", tmp_path / "keypoints"
    videos.mkdir()
    for camera in case.rig.names:
        frames = sorted((folder / "images" / camera).glob("*.jpg"))
        write_video(videos / f"{camera}.mp4", (read_image(path) for path in frames), 30.0)
        (keypoints / camera).mkdir(parents=True)
        for index, path in enumerate(frames):  # the extracted frames are named frame_<12 digits>
            source = folder / "keypoints" / camera / f"{path.stem}_keypoints.json"
            (keypoints / camera / f"{frame_name('frame', index)}_keypoints.json").write_bytes(source.read_bytes())
    output = tmp_path / "out"
    assert fit_cli.main(["--cameras", str(folder / "Calib.toml"), "--video", str(videos), "--keypoints",
                         str(keypoints), "--output", str(output), "--no-overlay", "--quiet"]) == 0
    summary = json.loads((output / "summary.json").read_text())
    assert summary["counts"]["ok"] == len(case) and summary["multiview"]["fps"] == 30.0
    assert sorted(p.name for p in (output / "frames").iterdir()) == case.rig.names
    result = np.load(output / "results" / frame_name("frame", 4) / "000.npz")
    assert np.linalg.norm(result["keypoints_3d"] - case.keypoints_3d[4, BODY], axis=-1).mean() < 0.06
