"""Multi-view accuracy: synthetic rigs with exact ground truth, and real Pose2Sim footage.

    python benchmarks/multiview.py synthetic [--cases 8] [--cameras 2 4 8] [--seed 0] [--leave-one-out]
    python benchmarks/multiview.py real --calibration CALIB --views VIEWS --keypoints KPVIEWS --output OUT

**synthetic**: cases from ``motion.multiview_cases`` (held-out clips, 60 frames at 30 fps, a
ring of cameras, detector-like noise, occlusions, maybe a background person and false
detections), run through ``multiview.strategy.reconstruct`` (match, triangulate, track, fit)
with ``cfg/multiview.yaml``. Per number of cameras, for the subject and the background person
apart, over the frames they are detected in at least two cameras: world-frame error (no
alignment), MidHip-aligned MPJPE and PA-MPJPE of BODY_25 (mm), beside the robust
triangulation of the same detections as the baseline (its points where it has them); the share
of the person's frames their track covers, tracks per case and identity switches (instants at
which a track's detections are mostly another person's); seconds per person-instant.

**real**: a recording's calibration, per-camera frames and keypoints (e.g. Pose2Sim 0.10.49's
``Demo_MultiPerson``, detected with ``bodyfit detect``) fitted with leave-one-camera-out on, as
``fit.py --cameras ... --leave-one-out`` runs it (its outputs, overlays and report go to
``--output``). Reported: tracks and the instants each covers, and per track the median
leave-one-camera-out 2D error beside the fit's own residual in the cameras it used (an
estimate of the detector's noise), and their ratio.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bodyfit.bodymodels.layer import BodyModel  # noqa: E402
from bodyfit.fileio.atomic import write_json, write_text_atomic  # noqa: E402
from bodyfit.fileio.keypoint_layout import BODY, NUM_BODY, OPENPOSE  # noqa: E402
from bodyfit.geometry import pa_mpjpe  # noqa: E402
from bodyfit.motion.multiview_cases import MultiViewCase, MultiViewDistribution, make_multiview_cases  # noqa: E402
from bodyfit.motion.sequences import SequenceDistribution  # noqa: E402
from bodyfit.multiview.config import load_multiview_config  # noqa: E402
from bodyfit.multiview.strategy import InstantDetections, Reconstruction, reconstruct  # noqa: E402
from bodyfit.resources import config_path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MID_HIP = OPENPOSE["MidHip"]


def case_detections(case: MultiViewCase) -> list[InstantDetections]:
    """Per frame, every camera's detections as the strategy reads them (undistorted)."""
    empty = np.zeros((0, NUM_BODY, 3))
    return [InstantDetections.of(case.rig, [case.observed[c.name][t][:, BODY] if len(case.observed[c.name][t])
                                            else empty for c in case.rig]) for t in range(len(case))]


def track_identity(case: MultiViewCase, result: Reconstruction, track_index: int) -> dict[int, int]:
    """Instant -> the true identity most of the track's detections there belong to."""
    names = case.rig.names
    out = {}
    for instant, index in result.tracks[track_index].people.items():
        person = result.matched[instant][index]
        ids = [int(case.identities[names[view]][instant][detection]) for view, detection in person.detections.items()]
        out[instant] = max(set(ids), key=ids.count)
    return out


def errors_mm(predicted: np.ndarray, truth: np.ndarray) -> dict[str, np.ndarray]:
    """Per frame (T,) world error, MidHip-aligned MPJPE and PA-MPJPE of (T, 25, 3) points (mm),
    over the points finite in ``predicted``."""
    finite = np.isfinite(predicted).all(-1)
    world = np.array([np.linalg.norm(p[f] - g[f], axis=-1).mean() if f.any() else np.nan
                      for p, g, f in zip(predicted, truth, finite)])
    aligned = []
    for p, g, f in zip(predicted, truth, finite):
        if f[MID_HIP] and f.sum() >= 4:
            aligned.append(np.linalg.norm((p[f] - p[MID_HIP]) - (g[f] - g[MID_HIP]), axis=-1).mean())
        else:
            aligned.append(np.nan)
    pa = [pa_mpjpe(torch.as_tensor(p[f])[None], torch.as_tensor(g[f])[None]).item() if f.sum() >= 4 else np.nan
          for p, g, f in zip(predicted, truth, finite)]
    return {"world": 1000 * world, "mpjpe": 1000 * np.array(aligned), "pa_mpjpe": 1000 * np.array(pa)}


def score_case(case: MultiViewCase, result: Reconstruction) -> dict[str, dict]:
    """Per true person (``subject``, ``background``): errors of the fit and the triangulation
    over the frames their track holds them, coverage, tracks and identity switches."""
    identities = [track_identity(case, result, i) for i in range(len(result.tracks))]
    scores = {}
    for person, label in zip(range(len(case.people)), ("subject", "background")):
        truth = case.people[person].keypoints_3d[:, BODY]
        seen_by = sum(np.array([np.sum(ids == person) > 0 for ids in case.identities[name]], dtype=int)
                      for name in case.rig.names)
        wanted = seen_by >= 2
        owners = [i for i, ids in enumerate(identities) if sum(v == person for v in ids.values()) > 0]
        best = max(owners, key=lambda i: sum(v == person for v in identities[i].values()), default=None)
        entry = {"frames_wanted": int(wanted.sum()), "tracks": len(owners), "covered": 0.0,
                 "switches": int(sum(sum(v != person for v in identities[i].values()) for i in owners))}
        if best is not None and wanted.any():
            fit, observed = result.fits[best], result.observations[best]
            rows = {int(instant): row for row, instant in enumerate(fit.instants)}
            frames = [t for t in np.flatnonzero(wanted) if t in rows and identities[best].get(t) == person]
            entry["covered"] = len(frames) / int(wanted.sum())
            if frames:
                index = [rows[t] for t in frames]
                entry["fit"] = {k: v.tolist() for k, v in errors_mm(fit.keypoints_3d[index], truth[frames]).items()}
                entry["triangulation"] = {k: v.tolist() for k, v in errors_mm(observed.points[index],
                                                                              truth[frames]).items()}
        scores[label] = entry
    return scores


def summarise(rows: list[dict], label: str) -> dict:
    """Median and mean of each error over the frames of all cases, coverage and switches."""
    parts = [row[label] for row in rows if label in row and row[label]["frames_wanted"] > 0]
    out = {"cases": len(parts), "covered_mean": float(np.mean([p["covered"] for p in parts])) if parts else None,
           "tracks_mean": float(np.mean([p["tracks"] for p in parts])) if parts else None,
           "switches": int(sum(p["switches"] for p in parts))}
    for source in ("fit", "triangulation"):
        for metric in ("world", "mpjpe", "pa_mpjpe"):
            values = np.concatenate([np.asarray(p[source][metric]) for p in parts if source in p] or [np.zeros(0)])
            values = values[np.isfinite(values)]
            out[f"{source}_{metric}"] = ({"median": float(np.median(values)), "mean": float(values.mean())}
                                         if len(values) else None)
    return out


def overrides_of(settings: list[str]) -> dict[str, dict]:
    """``section.key=value`` (``fit.weights.name=value`` for a weight) as nested overrides."""
    out: dict[str, dict] = {}
    for setting in settings:
        name, _, value = setting.partition("=")
        parts = name.split(".")
        target = out.setdefault(parts[0], {})
        for part in parts[1:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = yaml.safe_load(value)
    return out


def run_synthetic(args: argparse.Namespace) -> dict:
    model = BodyModel("smplx", "neutral")
    config = load_multiview_config(args.config or config_path("multiview"), overrides_of(args.set))
    dist = MultiViewDistribution(noise=SequenceDistribution(split=args.split))
    results = {}
    for cameras in args.cameras:
        cases = make_multiview_cases(model, args.cases, args.seed, dist, cameras=cameras)
        rows, seconds, person_instants = [], 0.0, 0
        for case in cases:
            began = time.perf_counter()
            result = reconstruct(model, case.rig, case_detections(case), config, args.leave_one_out)
            seconds += time.perf_counter() - began
            person_instants += sum(int(fit.seen.sum()) for fit in result.fits)
            rows.append({"case": case.describe(), **score_case(case, result)})
            print(f"{cameras} cameras, {case.case_id}: subject {summary_line(rows[-1]['subject'])}", flush=True)
        results[cameras] = {"subject": summarise(rows, "subject"), "background": summarise(rows, "background"),
                            "seconds_per_person_instant": seconds / max(1, person_instants), "cases": rows}
    return results


def summary_line(entry: dict) -> str:
    if "fit" not in entry:
        return f"not tracked ({entry['frames_wanted']} frames wanted)"
    pa = np.nanmean(entry["fit"]["pa_mpjpe"])
    world = np.nanmean(entry["fit"]["world"])
    return f"PA {pa:.1f} mm, world {world:.1f} mm, covered {entry['covered']:.2f}, tracks {entry['tracks']}"


def synthetic_table(results: dict) -> str:
    def cell(value) -> str:
        return "-" if value is None else f"{value['median']:.1f} / {value['mean']:.1f}"

    lines = ["| cameras | person | cases | fit PA-MPJPE | fit MPJPE | fit world | triangulation PA | triangulation "
             "MPJPE | triangulation world | fit / triangulation (world, mean) | covered | tracks | switches | "
             "s per person-instant |", "|" + "---|" * 14]
    for cameras, result in results.items():
        for label in ("subject", "background"):
            s = result[label]
            if not s["cases"]:
                continue
            ratio = (s["fit_world"]["mean"] / s["triangulation_world"]["mean"]
                     if s["fit_world"] and s["triangulation_world"] else float("nan"))
            lines.append(f"| {cameras} | {label} | {s['cases']} | {cell(s['fit_pa_mpjpe'])} | {cell(s['fit_mpjpe'])} | "
                         f"{cell(s['fit_world'])} | {cell(s['triangulation_pa_mpjpe'])} | "
                         f"{cell(s['triangulation_mpjpe'])} | {cell(s['triangulation_world'])} | {ratio:.2f} | "
                         f"{s['covered_mean']:.2f} | {s['tracks_mean']:.2f} | {s['switches']} | "
                         f"{result['seconds_per_person_instant']:.3f} |")
    return "\n".join(["Errors in mm, median / mean over frames.", ""] + lines)


def run_real(args: argparse.Namespace) -> dict:
    from bodyfit.multiview.strategy import MultiViewStrategy
    from bodyfit.multiview.views import CameraViews
    from bodyfit.pipeline.runner import RunOptions, run

    overrides = {"outputs": {"leave_one_out": True}}
    config = load_multiview_config(args.config or config_path("multiview"), overrides)
    source = CameraViews(args.calibration, args.views, fps=args.fps)
    strategy = MultiViewStrategy(config, source, device=args.device)
    options = RunOptions(args.output, args.keypoints, overwrite=True, quiet=True, overlay=not args.no_overlay)
    began = time.perf_counter()
    summary = run(options, source, strategy)
    seconds = time.perf_counter() - began
    tracks = {}
    for path in sorted((args.output / "tracks").glob("*.npz")):
        with np.load(path) as track:
            tracks[path.stem] = {"instants": int(track["seen"].sum()),
                                 "span": [int(track["frame_indices"][0]), int(track["frame_indices"][-1])]}
    residual, loo = {}, {}
    for record_path in sorted((args.output / "results").glob("*/*.npz")):
        with np.load(record_path) as person:
            track = f"{int(person['track_id']):03d}"
            residual.setdefault(track, []).append(person["reprojection_error_px_per_camera"])
            loo.setdefault(track, []).append(person["loo_error_px_per_camera"])
    for track, entry in tracks.items():
        own = np.concatenate(residual.get(track, [np.zeros(0)]))
        left_out = np.concatenate(loo.get(track, [np.zeros(0)]))
        own, left_out = own[np.isfinite(own)], left_out[np.isfinite(left_out)]
        entry.update(fit_residual_px=float(np.median(own)) if len(own) else None,
                     loo_error_px=float(np.median(left_out)) if len(left_out) else None)
        if entry["fit_residual_px"] and entry["loo_error_px"] is not None:
            entry["ratio"] = entry["loo_error_px"] / entry["fit_residual_px"]
    multiview = summary.get("multiview", {})
    return {"tracks": tracks, "instants": len(summary["images"]), "run_seconds": seconds,
            "fit_seconds": multiview.get("fit_seconds"), "person_instants": multiview.get("person_instants"),
            "seconds_per_person_instant": multiview.get("seconds_per_person_instant")}


def real_table(result: dict) -> str:
    lines = ["| track | instants seen | span | median fit residual (px) | median leave-one-camera-out (px) | ratio |",
             "|---|---|---|---|---|---|"]
    for track, entry in result["tracks"].items():
        lines.append(f"| {track} | {entry['instants']} | {entry['span'][0]}-{entry['span'][1]} | "
                     f"{entry['fit_residual_px'] or float('nan'):.1f} | {entry['loo_error_px'] or float('nan'):.1f} | "
                     f"{entry.get('ratio', float('nan')):.2f} |")
    lines.append("")
    lines.append(f"{result['instants']} instants; fit (leave-one-out included) {result['fit_seconds']:.1f} s for "
                 f"{result['person_instants']} person-instants ({result['seconds_per_person_instant']:.3f} s each); "
                 f"whole run {result['run_seconds']:.1f} s")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="part", required=True)
    synthetic = sub.add_parser("synthetic")
    synthetic.add_argument("--cases", type=int, default=8)
    synthetic.add_argument("--cameras", type=int, nargs="+", default=[2, 4, 8])
    synthetic.add_argument("--seed", type=int, default=0)
    synthetic.add_argument("--leave-one-out", action="store_true")
    synthetic.add_argument("--split", choices=("heldout", "train"), default="heldout",
                           help="the corpus clips the cases are made from: tune on train, report on heldout")
    synthetic.add_argument("--set", nargs="*", default=[], metavar="SECTION.KEY=VALUE",
                           help="config overrides, e.g. fit.weights.keypoints_3d=100")
    real = sub.add_parser("real")
    real.add_argument("--calibration", type=Path, required=True)
    real.add_argument("--views", type=Path, required=True, help="one folder of frames per camera")
    real.add_argument("--keypoints", type=Path, required=True, help="one folder of keypoint files per camera")
    real.add_argument("--fps", type=float, default=60.0)
    real.add_argument("--no-overlay", action="store_true")
    real.add_argument("--device", default="cpu")
    for part in (synthetic, real):
        part.add_argument("--config", type=Path, default=None, help="default cfg/multiview.yaml")
        part.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "multiview")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(2)
    if args.part == "synthetic":
        results = run_synthetic(args)
        table = synthetic_table(results)
        name = "synthetic"
    else:
        results = run_real(args)
        table = real_table(results)
        name = "real"
    args.output.mkdir(parents=True, exist_ok=True)
    write_json(args.output / f"{name}.json", json.loads(json.dumps(results, default=str)))
    write_text_atomic(args.output / f"{name}.md", table + "\n")
    print(table)


if __name__ == "__main__":
    main()
