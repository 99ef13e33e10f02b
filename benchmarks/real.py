"""Single-camera fits of real footage, scored against multi-view fits of the same people.

    python benchmarks/real.py --calibration CALIB --views VIEWS --keypoints KPVIEWS --reference MULTIVIEW_OUTPUT
        [--runs regress_only rest regressor] [--stride 5] [--focal-length true|auto] [--output DIR]

The reference is a ``fit.py --cameras`` output folder of the same recording (e.g. Pose2Sim's
``Demo_MultiPerson``, as ``benchmarks/multiview.py real`` writes it): its world-frame body per
person and instant is real 3D pseudo-ground-truth. Every camera's frames (every ``--stride``-th
instant) are then fitted one image at a time, as ``fit.py --images`` fits a photo: for each
reference person the camera's own detection of them (the one the multi-view matching used) is
read from its keypoint file, undistorted, and fitted with the camera's focal length
(``--focal-length true``) or bodyfit's guess from the image (``auto``). Runs: ``regressor`` (the
default fit), ``rest`` (SMPLify-X's start and schedule), ``regress_only`` (the regressor alone).

Scored against the reference turned into the camera's frame, over BODY_25: PA-MPJPE, MidHip-
aligned MPJPE and the root (MidHip) position error, in mm, per camera and per joint, with
medians and means, and each run's ratio to the default fit from the same run.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bodyfit.fileio.atomic import write_json, write_text_atomic  # noqa: E402
from bodyfit.fileio.calibration import read_calibration  # noqa: E402
from bodyfit.fileio.cameras import Camera, CameraRig  # noqa: E402
from bodyfit.fileio.intrinsics import resolve_intrinsics  # noqa: E402
from bodyfit.fileio.keypoint_layout import BODY, OPENPOSE  # noqa: E402
from bodyfit.fileio.openpose_json import read_openpose  # noqa: E402
from bodyfit.fitting.config import load_config  # noqa: E402
from bodyfit.fitting.core import ModelBank, fit_tasks  # noqa: E402
from bodyfit.fitting.tasks import build_task  # noqa: E402
from bodyfit.geometry import procrustes_align  # noqa: E402
from bodyfit.quality.config import QualityConfig  # noqa: E402
from bodyfit.resources import config_path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MID_HIP = OPENPOSE["MidHip"]
RUNS = {"regressor": {}, "rest": {"init": "rest"}, "regress_only": {"init": "regressor", "regress_only": True}}
NAMES = sorted(OPENPOSE, key=OPENPOSE.get)[:25]


@dataclass
class Sample:
    """One person in one camera's frame: the full-layout detection (K, 3) undistorted, the
    reference BODY_25 keypoints in the camera frame (25, 3), and where they came from."""

    camera: str
    frame: str
    track: int
    keypoints: np.ndarray
    reference: np.ndarray
    image: Path
    image_size: tuple[int, int]


def detection_of(people: list[np.ndarray], matched: np.ndarray) -> np.ndarray | None:
    """The person (K, 3) among ``people`` whose BODY_25 points are the ``matched`` ones (25, 3)
    the multi-view fit used (the same file, so the same numbers); None if none is."""
    seen = matched[:, 2] > 0
    if not seen.any():
        return None
    for person in people:
        if np.allclose(person[BODY][seen, :2], matched[seen, :2], atol=1e-3):
            return person
    return None


def collect(rig: CameraRig, views: Path, keypoints: Path, reference: Path, stride: int) -> list[Sample]:
    """Every reference person at every ``stride``-th instant, in every camera that saw them."""
    samples = []
    frames = sorted((reference / "results").iterdir())
    for folder in frames[::stride]:
        for path in sorted(folder.glob("*.npz")):
            with np.load(path) as fit:
                names = [str(n) for n in fit["camera_names"]]
                world, observed, track = fit["keypoints_3d"], fit["observed_2d"], int(fit["track_id"])
            for index, name in enumerate(names):
                camera = rig[name]
                if (observed[index, :, 2] > 0).sum() < 6:
                    continue
                people = [p.to_layout() for p in read_openpose(keypoints / name / f"{folder.name}_keypoints.json")]
                person = detection_of(people, observed[index])
                if person is None:
                    continue
                undistorted = person.copy()
                seen = person[:, 2] > 0
                undistorted[seen, :2] = camera.undistort(person[seen, :2])
                image = next(iter(sorted((views / name).glob(f"{folder.name}.*"))))
                samples.append(Sample(name, folder.name, track, undistorted, camera.to_camera(world), image,
                                      camera.image_size))
    return samples


def intrinsics_of(sample: Sample, camera: Camera, focal: str) -> np.ndarray:
    if focal == "true":
        return camera.intrinsics
    height, width = sample.image_size
    return resolve_intrinsics(sample.image, width, height, "auto").as_array()


def run(samples: list[Sample], rig: CameraRig, overrides: dict, focal: str, batch_size: int
        ) -> tuple[list[np.ndarray | None], float]:
    """Camera-frame BODY_25 keypoints (25, 3) of each sample's fit (None: not fitted) and seconds."""
    config = load_config(config_path("fit_smplx"), overrides)
    bank = ModelBank({config.model_type: config}, quality=QualityConfig(check_intersections=False))
    tasks = [build_task(s.keypoints, intrinsics_of(s, rig[s.camera], focal), s.image_size, config,
                        f"{s.camera}_{s.frame}", s.track)[0] for s in samples]
    began = time.perf_counter()
    fits = iter(fit_tasks([t for t in tasks if t is not None], bank, batch_size))
    seconds = time.perf_counter() - began
    out = []
    for task in tasks:
        fit = next(fits) if task is not None else None
        out.append(fit.keypoints_3d[BODY].astype(np.float64) if fit is not None and fit.status == "ok" else None)
    return out, seconds


def errors(predicted: np.ndarray, reference: np.ndarray) -> dict[str, np.ndarray | float]:
    """PA-MPJPE per joint (25,), MidHip-aligned error per joint (25,), root error (mm)."""
    target = torch.as_tensor(reference)[None]
    pa = (procrustes_align(torch.as_tensor(predicted)[None], target) - target).norm(dim=-1)[0].numpy()
    centred = np.linalg.norm((predicted - predicted[MID_HIP]) - (reference - reference[MID_HIP]), axis=-1)
    root = float(np.linalg.norm(predicted[MID_HIP] - reference[MID_HIP]))
    return {"pa": 1000 * pa, "mpjpe": 1000 * centred, "root": 1000 * root}


def summary(values: list[float]) -> dict[str, float]:
    array = np.asarray(values, dtype=np.float64)
    return {"median": float(np.median(array)), "mean": float(array.mean()), "count": int(len(array))}


def score(samples: list[Sample], predicted: list[np.ndarray | None]) -> dict:
    """Per run: over all, per camera, per joint; and the samples not fitted."""
    rows = [(s, errors(p, s.reference)) for s, p in zip(samples, predicted) if p is not None]
    out = {"fitted": len(rows), "not_fitted": len(samples) - len(rows)}
    for metric in ("pa", "mpjpe", "root"):
        values = [float(np.mean(e[metric])) for _, e in rows]
        out[metric] = summary(values)
        out[f"{metric}_per_camera"] = {camera: summary([float(np.mean(e[metric])) for s, e in rows if s.camera == camera])
                                       for camera in sorted({s.camera for s, _ in rows})}
    for metric in ("pa", "mpjpe"):
        per_joint = np.stack([e[metric] for _, e in rows])
        out[f"{metric}_per_joint"] = {name: float(np.mean(per_joint[:, k])) for k, name in enumerate(NAMES)}
    return out


def table(results: dict) -> str:
    base = results.get("regressor")
    lines = ["| run | people fitted | PA-MPJPE mm | MPJPE mm | root error mm | PA ratio to the default fit (mean) | s/person |",
             "|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        ratio = r["pa"]["mean"] / base["pa"]["mean"] if base else float("nan")
        lines.append(f"| {name} | {r['fitted']} | {r['pa']['median']:.1f} / {r['pa']['mean']:.1f} | "
                     f"{r['mpjpe']['median']:.1f} / {r['mpjpe']['mean']:.1f} | {r['root']['median']:.0f} / "
                     f"{r['root']['mean']:.0f} | {ratio:.2f} | {r['seconds_per_person']:.3f} |")
    lines += ["", "PA-MPJPE per camera (mean):", "",
              "| run | " + " | ".join(results[next(iter(results))]["pa_per_camera"]) + " |",
              "|---|" + "---|" * len(results[next(iter(results))]["pa_per_camera"])]
    for name, r in results.items():
        lines.append(f"| {name} | " + " | ".join(f"{v['mean']:.1f}" for v in r["pa_per_camera"].values()) + " |")
    worst = sorted(results[next(iter(results))]["pa_per_joint"].items(), key=lambda kv: -kv[1])[:6]
    lines += ["", f"Worst joints ({next(iter(results))}, PA-MPJPE mean, mm): "
              + ", ".join(f"{k} {v:.0f}" for k, v in worst)]
    return "\n".join(["Median / mean over people and frames.", ""] + lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calibration", type=Path, required=True)
    parser.add_argument("--views", type=Path, required=True, help="one folder of frames per camera")
    parser.add_argument("--keypoints", type=Path, required=True, help="one folder of keypoint files per camera")
    parser.add_argument("--reference", type=Path, required=True, help="a fit.py --cameras output of the recording")
    parser.add_argument("--runs", nargs="+", choices=tuple(RUNS), default=["regressor", "rest", "regress_only"])
    parser.add_argument("--stride", type=int, default=5, help="every stride-th instant of the reference")
    parser.add_argument("--focal-length", choices=("true", "auto"), default="true")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "real")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(2)
    rig = read_calibration(args.calibration)
    samples = collect(rig, args.views, args.keypoints, args.reference, args.stride)
    print(f"{len(samples)} people in single views ({len({s.frame for s in samples})} instants, "
          f"{len({s.camera for s in samples})} cameras)", flush=True)
    results = {}
    for name in args.runs:
        predicted, seconds = run(samples, rig, RUNS[name], args.focal_length, args.batch_size)
        results[name] = {**score(samples, predicted), "seconds_per_person": seconds / max(1, len(samples))}
        print(f"{name}: PA-MPJPE {results[name]['pa']['mean']:.1f} mm mean", flush=True)
    text = table(results)
    args.output.mkdir(parents=True, exist_ok=True)
    write_json(args.output / f"real_{args.focal_length}.json", json.loads(json.dumps(results)))
    write_text_atomic(args.output / f"real_{args.focal_length}.md", text + "\n")
    print(text)


if __name__ == "__main__":
    main()
