"""Video accuracy: the per-frame fit against the sequence fit (and the temporal regressor) on
sequences made from the motion corpus's held-out clips.

    python benchmarks/video.py [--sequences 12] [--length 60] [--seed 0] [--runs ...] [--output DIR]

Sequences come from ``motion.sequences`` (one camera per sequence, per-frame jitter, slow
drift, dropouts lasting a few frames, left-right swaps, detector-like confidences). Runs:
``regressor`` (the shipped regressor on each frame alone, no fit), ``per_frame`` (the default
SMPL-X fit, ``fitting.core.fit_tasks``, each frame its own task), ``sequence`` (the sequence
fit of ``video.sequence_fit`` from the per-frame regressor), ``temporal`` (the temporal
regressor alone) and ``sequence_temporal`` (the sequence fit from it). Every run gets the true
focal length.

Metrics over BODY_25, on the frames where the per-frame fit has a task (enough seen
keypoints): PA-MPJPE, MidHip-aligned MPJPE, VIBE's acceleration error (``video.metrics``;
mm/frame^2, MidHip-aligned, frames whose neighbours are evaluated too), the predicted
motion's own acceleration (jitter shows here), and frames per second (wall time of the run,
starts included, over the frames it fitted).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bodyfit.resources import config_path  # noqa: E402
from bodyfit.bodymodels.layer import BodyModel  # noqa: E402
from bodyfit.fileio.atomic import write_json, write_text_atomic  # noqa: E402
from bodyfit.fileio.keypoint_layout import BODY, OPENPOSE  # noqa: E402
from bodyfit.fitting.config import FitConfig, load_config  # noqa: E402
from bodyfit.fitting.core import ModelBank, fit_tasks  # noqa: E402
from bodyfit.fitting.tasks import build_task  # noqa: E402
from bodyfit.quality.config import QualityConfig  # noqa: E402
from bodyfit.motion.sequences import SequenceCase, SequenceDistribution, make_sequences  # noqa: E402
from bodyfit.video.config import load_video_config  # noqa: E402
from bodyfit.video.metrics import acceleration, acceleration_error, per_frame_errors  # noqa: E402
from bodyfit.video.sequence_fit import TrackObservations, fit_sequences  # noqa: E402
from bodyfit.video.starts import make_starts  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MID_HIP = OPENPOSE["MidHip"]
RUNS = ("regressor", "per_frame", "sequence", "temporal", "sequence_temporal")
LABELS = {"regressor": "regressor alone, per frame", "per_frame": "per-frame fit (default SMPL-X)",
          "sequence": "sequence fit from the regressor", "temporal": "temporal regressor alone",
          "sequence_temporal": "sequence fit from the temporal regressor"}


def frame_tasks(case: SequenceCase, config: FitConfig) -> list:
    """One task per frame (None where too few keypoints are seen)."""
    return [build_task(case.observed[t], case.intrinsics, case.image_size, config, f"{case.case_id}_{t:06d}", 0,
                       track_id=0, frame_index=t)[0] for t in range(len(case))]


def track_of(case: SequenceCase, index: int) -> TrackObservations:
    return TrackObservations(case.observed[..., :2], case.observed[..., 2], case.intrinsics, case.image_size,
                             np.arange(len(case)), index)


def run_per_frame(cases: list[SequenceCase], config: FitConfig, batch_size: int) -> tuple[list[np.ndarray], float]:
    """BODY_25 keypoints (T, 25, 3) per case (NaN rows where not fitted) and wall seconds."""
    bank = ModelBank({config.model_type: config}, quality=QualityConfig(check_intersections=False))  # fitting alone
    tasks = [frame_tasks(case, config) for case in cases]
    flat = [task for per_case in tasks for task in per_case if task is not None]
    start = time.perf_counter()
    fits = iter(fit_tasks(flat, bank, batch_size))
    seconds = time.perf_counter() - start
    results = []
    for case, per_case in zip(cases, tasks):
        points = np.full((len(case), 25, 3), np.nan)
        for t, task in enumerate(per_case):
            fit = next(fits) if task is not None else None
            if fit is not None and fit.status == "ok":
                points[t] = fit.keypoints_3d[BODY]
        results.append(points)
    return results, seconds


def run_sequence(cases: list[SequenceCase], model: BodyModel, video_config, start: str) -> tuple[list[np.ndarray], float]:
    """The sequence fit of every case as one track; keypoints (T, 25, 3) and wall seconds."""
    fit_config = video_config.sequence_fit
    began = time.perf_counter()
    tracks = [track_of(case, index) for index, case in enumerate(cases)]
    starts = make_starts(tracks, dataclasses.replace(fit_config, start=start))
    fits = fit_sequences(model, tracks, starts, fit_config)
    return [fit.keypoints_3d.astype(np.float64) for fit in fits], time.perf_counter() - began


def run_starts_only(cases: list[SequenceCase], model: BodyModel, video_config, start: str) -> tuple[list[np.ndarray], float]:
    """The starts themselves (regressor or temporal regressor per frame), no fit."""
    from bodyfit.regressor.body import body_points
    fit_config = video_config.sequence_fit
    began = time.perf_counter()
    tracks = [track_of(case, index) for index, case in enumerate(cases)]
    results = []
    for begin in make_starts(tracks, dataclasses.replace(fit_config, start=start)):
        with torch.no_grad():
            _, points = body_points(model, begin.rotations, begin.betas[None].expand(len(begin.transl), -1),
                                    begin.transl)
        results.append(points.double().numpy())
    return results, time.perf_counter() - began


def score(cases: list[SequenceCase], predicted: list[np.ndarray], evaluated: list[np.ndarray], seconds: float) -> dict:
    """Medians and means over evaluated frames of every metric; frames per second."""
    pa, mp, accel_error, accel = [], [], [], []
    for case, points, frames in zip(cases, predicted, evaluated):
        truth = case.keypoints_3d[:, BODY]
        ok = frames & np.isfinite(points).all((1, 2))
        filled = np.where(ok[:, None, None], points, truth)  # never read where not ok
        errors = per_frame_errors(filled[ok], truth[ok], MID_HIP)
        pa.append(errors[0])
        mp.append(errors[1])
        accel_error.append(acceleration_error(filled, truth, MID_HIP, ok))
        accel.append(acceleration(filled, MID_HIP)[ok[:-2] & ok[1:-1] & ok[2:]])
    frames = int(sum(len(p) for p in pa))
    out = {"frames": frames, "fps": frames / seconds if seconds > 0 else float("nan")}
    for name, values in (("pa_mpjpe_mm", pa), ("mpjpe_mm", mp), ("accel_error_mm", accel_error),
                         ("accel_mm", accel)):
        joined = 1000.0 * np.concatenate(values)
        out[name] = {"median": float(np.median(joined)), "mean": float(joined.mean())}
    return out


def table(results: dict[str, dict], truth_accel: float) -> str:
    lines = ["| run | PA-MPJPE mm | MPJPE mm | accel error mm/frame^2 | accel mm/frame^2 | frames/s |",
             "|---|---|---|---|---|---|"]
    for name, entry in results.items():
        cells = [f"{entry[key]['median']:.1f} / {entry[key]['mean']:.1f}"
                 for key in ("pa_mpjpe_mm", "mpjpe_mm", "accel_error_mm", "accel_mm")]
        lines.append(f"| {LABELS[name]} | " + " | ".join(cells) + f" | {entry['fps']:.1f} |")
    lines.append(f"\n(median / mean over frames; the true motion's acceleration: {truth_accel:.1f} mm/frame^2 mean)")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=12)
    parser.add_argument("--length", type=int, default=60, help="frames per sequence (30 fps)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--config", type=Path, default=config_path("fit_smplx"))
    parser.add_argument("--video-config", type=Path, default=config_path("video"))
    parser.add_argument("--runs", nargs="+", choices=RUNS, default=["regressor", "per_frame", "sequence"])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path, default=None)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    model = BodyModel()
    config = load_config(args.config)
    video_config = load_video_config(args.video_config)
    cases = make_sequences(model, args.sequences, args.seed, SequenceDistribution(length=args.length))
    evaluated = [np.array([task is not None for task in frame_tasks(case, config)]) for case in cases]
    truth_accel = float(np.mean(np.concatenate([acceleration(c.keypoints_3d[:, BODY], MID_HIP) for c in cases]))) * 1000
    results = {}
    for name in args.runs:
        print(f"{LABELS[name]}: {len(cases)} sequences", file=sys.stderr)
        if name == "regressor":
            predicted, seconds = run_per_frame(cases, load_config(args.config, {"init": "regressor", "regress_only": True}),
                                             args.batch_size)
        elif name == "per_frame":
            predicted, seconds = run_per_frame(cases, config, args.batch_size)
        elif name in ("sequence", "sequence_temporal"):
            predicted, seconds = run_sequence(cases, model, video_config,
                                              "temporal" if name == "sequence_temporal" else "regressor")
        else:
            predicted, seconds = run_starts_only(cases, model, video_config, "temporal")
        results[name] = score(cases, predicted, evaluated, seconds)
        print(f"  {json.dumps(results[name])}", file=sys.stderr)
    text = table(results, truth_accel)
    print(text)
    if args.output:
        settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
        write_text_atomic(args.output / "summary.md", f"# video benchmark\n\n`{json.dumps(settings)}`\n\n{text}\n")
        write_json(args.output / "summary.json", {"settings": settings, "truth_accel_mm": truth_accel,
                                                  "sequences": [c.describe() for c in cases], "results": results})


if __name__ == "__main__":
    main()
