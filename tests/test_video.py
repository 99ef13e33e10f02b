"""Video: sequence cases, VIBE's acceleration error, the sequence fit against per-frame fits,
windows, video files, and fit.py --sequence end to end."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from bodyfit.bodymodels.layer import BodyModel
from bodyfit.fileio.openpose_json import PersonKeypoints, write_openpose
from bodyfit.fileio.images import write_png
from bodyfit.fileio.keypoint_layout import BODY, OPENPOSE
from bodyfit.motion.cases import CaseDistribution
from bodyfit.motion.sequences import SequenceDistribution, make_sequences
from bodyfit.video.config import SequenceFitConfig, SequenceWeights, load_video_config
from bodyfit.video.metrics import acceleration_error, per_frame_errors
from bodyfit.video.sequence_fit import TrackObservations, blend_weights, fit_sequences, plan_windows
from bodyfit.video.starts import make_starts

MID_HIP = OPENPOSE["MidHip"]
SMALL = SequenceDistribution(length=16, camera=CaseDistribution(image_sizes=((240, 320),)))


@pytest.fixture(scope="module")
def model() -> BodyModel:
    return BodyModel()


@pytest.fixture(scope="module")
def cases(model):
    return make_sequences(model, 2, seed=3, dist=SMALL)


def test_sequence_cases_are_seeded_and_true(model, cases):
    again = make_sequences(model, 2, seed=3, dist=SMALL)
    np.testing.assert_array_equal(again[0].observed, cases[0].observed)
    case = cases[0]
    assert case.observed.shape == (16, model.num_keypoints, 3) and case.fps == 30.0
    with torch.no_grad():  # the parameters give the true keypoints (oracle: the body model's forward)
        keypoints = model(case.params).keypoints.double().numpy()
    np.testing.assert_allclose(keypoints[:, BODY], case.keypoints_3d[:, BODY], atol=1e-5)
    assert np.all(case.params.betas.numpy() == case.params.betas.numpy()[:1])  # one shape
    seen = case.observed[:, BODY, 2] > 0
    error = np.linalg.norm(case.observed[:, BODY, :2] - case.keypoints_2d[:, BODY], axis=-1)[seen]
    assert 0.2 * case.jitter_px < np.median(error) < 5 * case.jitter_px


def test_dropouts_last_several_frames():
    from bodyfit.motion.sequences import _dropouts
    unseen = _dropouts(np.random.default_rng(0), 400, 25, 0.02, 6)
    runs = [len(run) for column in unseen.T for run in "".join("1" if v else "0" for v in column).split("0") if run]
    assert max(runs) > 3 and 1.5 < np.mean(runs) < 6


def test_acceleration_error_as_vibe():
    """Constant velocity has none; one frame displaced by d gives d, 2d, d around it."""
    frames = np.arange(10.0)[:, None, None] * np.ones((10, 4, 3)) * 0.01
    frames[:, 0] = 0.0  # root at the origin
    assert np.allclose(acceleration_error(frames, frames * 1.0, 0), 0.0)
    moved = frames.copy()
    moved[5, 1:] += np.array([0.0, 0.003, 0.004])  # 5 mm on 3 of the 4 points
    error = acceleration_error(moved, frames, 0)
    np.testing.assert_allclose(error[[3, 4, 5]], np.array([1.0, 2.0, 1.0]) * 0.005 * 3 / 4)
    valid = np.ones(10, bool)
    valid[5] = False
    assert len(acceleration_error(moved, frames, 0, valid)) == 8 - 3
    with pytest.raises(ValueError, match="must both be"):
        acceleration_error(frames, frames[:5], 0)


def test_windows_cover_and_blend():
    assert plan_windows(10, 64, 16) == [(0, 10)]
    windows = plan_windows(150, 64, 16)
    assert windows == [(0, 64), (48, 112), (86, 150)]
    weights = blend_weights(windows, 150)
    np.testing.assert_allclose(weights.sum(0), 1.0)
    assert weights[0, 10] == 1.0 and 0 < weights[1, 50] < 0.5


def tracks_of(cases) -> list[TrackObservations]:
    return [TrackObservations(c.observed[..., :2], c.observed[..., 2], c.intrinsics, c.image_size,
                              np.arange(len(c)), index) for index, c in enumerate(cases)]


def _errors(fits, cases) -> tuple[float, float]:
    pa = np.concatenate([per_frame_errors(f.keypoints_3d.astype(np.float64), c.keypoints_3d[:, BODY], MID_HIP)[0]
                         for f, c in zip(fits, cases)])
    accel = np.concatenate([acceleration_error(f.keypoints_3d.astype(np.float64), c.keypoints_3d[:, BODY], MID_HIP)
                            for f, c in zip(fits, cases)])
    return 1000 * float(pa.mean()), 1000 * float(accel.mean())


def test_sequence_fit_is_smoother_than_frames_fitted_apart(model, cases):
    """The same objective and budget without the time terms (each frame on its own) against
    the sequence fit (a short budget here): far less acceleration error, PA-MPJPE within 25 %
    (benchmarks/video.py measures both at full budget)."""
    config = SequenceFitConfig(frame_iterations=20, max_iterations=40)
    apart = dataclasses.replace(config, frame_iterations=60, max_iterations=0,
                                weights=SequenceWeights(joint_acceleration=0.0, pose_acceleration=0.0,
                                                        translation_acceleration=0.0))
    tracks = tracks_of(cases[:1])
    starts = make_starts(tracks, config)
    pa_apart, accel_apart = _errors(fit_sequences(model, tracks, starts, apart), cases[:1])
    pa_sequence, accel_sequence = _errors(fit_sequences(model, tracks, starts, config), cases[:1])
    assert accel_sequence < 0.5 * accel_apart
    assert pa_sequence < 1.25 * pa_apart


def test_windows_fit_a_long_track_in_one_batch(model, cases):
    """Windows of 8 overlapping by 4 over 16 frames give the same kind of result as one
    window: every frame fitted, one shape."""
    config = SequenceFitConfig(window=8, overlap=4, frame_iterations=10, max_iterations=10)
    tracks = tracks_of(cases[:1])
    fit = fit_sequences(model, tracks, make_starts(tracks, config), config)[0]
    assert fit.params["body_pose"].shape == (16, 63) and fit.keypoints_3d.shape == (16, 25, 3)
    assert np.all(fit.params["betas"] == fit.params["betas"][:1])
    assert np.isfinite(fit.loss)


def test_track_observations_refuse_bad_input():
    with pytest.raises(ValueError, match=r"track 3: keypoints must be \(T, K>=25, 2\)"):
        TrackObservations(np.zeros((4, 10, 2)), np.zeros((4, 10)), np.ones(4), (10, 10), np.arange(4), 3)
    with pytest.raises(ValueError, match="consecutive"):
        TrackObservations(np.zeros((3, 25, 2)), np.zeros((3, 25)), np.ones(4), (10, 10), np.array([0, 2, 3]))


def test_video_config_refuses_unknown_keys(tmp_path):
    path = tmp_path / "video.yaml"
    path.write_text("sequence_fit:\n  weights:\n    joint_accel: 1.0\n")
    with pytest.raises(ValueError, match="joint_accel"):
        load_video_config(path)


def test_video_file_round_trip(tmp_path):
    pytest.importorskip("av")
    from bodyfit.fileio.video import VideoError, extract_frames, read_frames, video_info, write_video
    frames = [np.full((48, 64, 3), 10 * i, dtype=np.uint8) for i in range(12)]
    assert write_video(tmp_path / "clip.mp4", frames, 25.0) == 12
    info = video_info(tmp_path / "clip.mp4")
    assert (info.fps, info.width, info.height) == (25.0, 64, 48)
    back = list(read_frames(tmp_path / "clip.mp4"))
    assert len(back) == 12 and abs(float(back[7].mean()) - 70) < 3
    paths, fps = extract_frames(tmp_path / "clip.mp4", tmp_path / "frames", max_frames=5, stride=2)
    assert [p.name for p in paths][:2] == ["clip_000000000000.jpg", "clip_000000000001.jpg"] and len(paths) == 5
    assert fps == 12.5
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    with pytest.raises(VideoError, match="broken.mp4"):
        video_info(tmp_path / "broken.mp4")


def write_frames(folder, keypoint_folder, cases, name="clip") -> None:
    """The cases' detections as OpenPose files of one video (person order swapped every
    other frame), over grey frames."""
    height, width = cases[0].image_size
    for t in range(len(cases[0])):
        stem = f"{name}_{t:012d}"
        write_png(folder / f"{stem}.png", np.full((height, width, 3), 120, dtype=np.uint8))
        people = [PersonKeypoints.from_layout(c.observed[t]) for c in cases]
        write_openpose(keypoint_folder / f"{stem}_keypoints.json", people[::-1] if t % 2 else people)


def test_fit_py_sequence_end_to_end(tmp_path, model):
    from bodyfit.cli import fit
    cases = make_sequences(model, 1, seed=5, dist=dataclasses.replace(SMALL, length=6))
    second = dataclasses.replace(cases[0], observed=cases[0].observed.copy())
    second.observed[..., 0] = np.where(second.observed[..., 2] > 0, second.observed[..., 0] - 60, 0.0)
    frames, keypoints = tmp_path / "frames", tmp_path / "keypoints"
    write_frames(frames, keypoints, [cases[0], second])
    config = tmp_path / "video.yaml"
    config.write_text("sequence_fit: {frame_iterations: 10, max_iterations: 10}\ntracking: {min_length: 3}\n")
    output = tmp_path / "out"
    code = fit.main(["--images", str(frames), "--keypoints", str(keypoints), "--output", str(output), "--sequence",
                     "--fps", "25", "--video-config", str(config), "--quiet"] +
                    ([] if _has_av() else ["--no-overlay"]))
    assert code == 0
    tracks = sorted((output / "tracks").glob("*.npz"))
    assert [p.name for p in tracks] == ["000.npz", "001.npz"]
    with np.load(tracks[0]) as track:
        assert track["body_pose"].shape == (6, 63) and track["transl"].shape == (6, 3)
        np.testing.assert_array_equal(track["frame_indices"], np.arange(6))
        assert float(track["fps"]) == 25.0 and track["seen"].all()
    index = json.loads((output / "tracks" / "index.json").read_text())
    assert sorted(index["clip_000000000001"].values()) == [0, 1]
    assert index["clip_000000000000"]["000"] == index["clip_000000000001"]["001"]  # order swapped, id kept
    with np.load(output / "results" / "clip_000000000003" / "001.npz") as person:
        assert person["body_pose"].shape == (63,) and person["vertices"].shape[1] == 3
    # the one driver: a sequence run writes the summary, the dataset index and the report as images do
    with np.load(output / "index.npz") as index:
        assert len(index["image"]) == 12 and sorted(set(index["image"]))[0] == "clip_000000000000"
    assert (output / "report.html").is_file()
    summary = json.loads((output / "summary.json").read_text())
    assert summary["fps"] == 25.0 and summary["people_fitted"] == 12 and len(summary["tracks"]) == 2
    if _has_av():
        from bodyfit.fileio.video import video_info
        assert video_info(output / "overlay.mp4").fps == 25.0


def _has_av() -> bool:
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


def test_untrained_temporal_regressor_is_the_per_frame_one(cases):
    """The residual projection starts at zero: the temporal model predicts what the shipped
    regressor predicts frame by frame."""
    from bodyfit.fitting.regressor_init import cached_regressor
    from bodyfit.regressor.checkpoint import resolve
    from bodyfit.regressor.inputs import make_input
    from bodyfit.regressor.temporal import MotionDiscriminator, TemporalRegressor, TemporalShape
    regressor = cached_regressor(str(resolve("default")), "cpu")
    model = TemporalRegressor(regressor, TemporalShape(reduce=32, hidden=16)).eval()
    observed = torch.as_tensor(cases[0].observed[:, BODY], dtype=torch.float32)
    inputs = make_input(observed[..., :2], observed[..., 2],
                        torch.as_tensor(cases[0].intrinsics, dtype=torch.float32)[None].expand(16, 4))
    with torch.no_grad():
        torch.testing.assert_close(model(inputs, 16).rotations, regressor(inputs).rotations)
        scores = MotionDiscriminator(TemporalShape(motion_hidden=16, attention=8))(model(inputs, 8).rotations[:, 1:]
                                                                                   .reshape(2, 8, 21, 3, 3))
    assert scores.shape == (2, 1)
    with pytest.raises(ValueError, match="sequences of 5 frames"):
        model(inputs, 5)


def test_temporal_training_lowers_its_loss(model):
    """A few steps on one fixed batch (same windows, same detections) lower the total loss."""
    from bodyfit.regressor import temporal_training as tt
    from bodyfit.fitting.regressor_init import cached_regressor
    from bodyfit.regressor.checkpoint import resolve
    from bodyfit.regressor.temporal import TemporalRegressor
    config = tt.TemporalTrainConfig(model=tt.TemporalShape(reduce=32, hidden=32, motion_hidden=16, attention=8),
                                    data=tt.TemporalData(window=8),
                                    training=tt.TemporalOptim(batch_size=4, learning_rate=3e-3))
    sequences = tt.draw_sequences(model, 3, "train", 10, seed=0)
    temporal = TemporalRegressor(cached_regressor(str(resolve("default")), "cpu"), config.model)
    learner = tt.TemporalLearner(temporal, model, config)
    totals = [learner.step(sequences, np.random.default_rng(7))["total"] for _ in range(8)]
    assert totals[-1] < 0.9 * totals[0]
