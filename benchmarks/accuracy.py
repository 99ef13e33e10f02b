"""Accuracy of the fitting core on cases drawn to look like real single photographs.

    python benchmarks/accuracy.py [--cases 256] [--priors l2_angles default PATH] [--oracle] [--output DIR]
    python benchmarks/accuracy.py --starts regress_only rest regressor_full regressor [--oracle] [--regressor PATH]

Cases come from ``motion.cases``: held-out motion-corpus poses with their real tilt
and bending and any heading, handheld or raised cameras (pitch -30..20 deg, roll +-10, 18-85
mm equivalent lenses), bodies filling 40-90 % of a 1280 x 960 or 960 x 1280 frame, a fifth cut
by the border, keypoint noise of 1-2 % of the body's height (2-3x on hands and face), hidden
faces on back views, missing hands. They go through the fitting core (``fitting.tasks``,
``fitting.core``) in batches, once per run, and with ``--oracle`` a second time started from
the true parameters. Runs (``--starts``): ``rest`` (SMPLify-X's start and schedule, once per
prior of ``--priors``), ``regress_only`` (the regressor's output, no fit), ``regressor_full``
(the regressor's start, then the rest schedule), ``regressor`` (the regressor's start and the
config's short ``regressor`` schedule held near its pose).

Metrics per case, over the 25 BODY_25 keypoints: PA-MPJPE (Procrustes-aligned) and MPJPE
(MidHip-aligned); PVE (every vertex, MidHip-aligned, translation only) and PA-PVE (every
vertex, Procrustes-aligned); root error (distance between the fitted and the true MidHip in
the camera frame); 2D error (median pixel distance of the fit's projected body keypoints to
the noise-free ones inside the image) also as a share of the body's height in pixels; a case
is catastrophic when that share exceeds 5 %. Tables per bin (view, posture, truncation) go to
stdout and, with ``--output``, to summary.md and summary.json beside one JSON file per case and
overlays of the worst cases.

The default 256 cases leave about 50 cases in each of the smallest bins (truncated 20 %, back
views 25 %). Measured on the 2-core CPU at batch 64: about 0.8-0.9 s a person with VPoser and
1.7 with the L2 prior, so about four minutes per VPoser prior; the held-out corpus holds a few
hundred frames at the 10 fps the cases sample (twice that with mirrors), so many more cases
would mostly repeat poses under other cameras.
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
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bodyfit.resources import config_path  # noqa: E402
from bodyfit.bodymodels.layer import BodyModel  # noqa: E402
from bodyfit.fileio.atomic import write_json, write_text_atomic  # noqa: E402
from bodyfit.fileio.images import write_png  # noqa: E402
from bodyfit.fileio.keypoint_layout import BODY, FACE, LEFT_HAND, OPENPOSE, RIGHT_HAND  # noqa: E402
from bodyfit.fileio.intrinsics import default_focal  # noqa: E402
from bodyfit.fileio.config import read_yaml  # noqa: E402
from bodyfit.fitting.config import FitConfig, compose, load_config, parse_config  # noqa: E402
from bodyfit.fitting.core import ModelBank, fit_tasks  # noqa: E402
from bodyfit.geometry import mpjpe, pa_mpjpe  # noqa: E402
from bodyfit.motion.cases import VIEWS, CaseDistribution, RealisticCase, inside_image, make_cases  # noqa: E402
from bodyfit.fitting.tasks import PersonFit, build_task  # noqa: E402
from bodyfit.rendering.draw import draw_label, draw_openpose  # noqa: E402
from bodyfit.rendering.overlay import render_overlay  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MID_HIP = OPENPOSE["MidHip"]
CATASTROPHIC_SHARE = 0.05
METRICS = (("pa_mpjpe_mm", "PA-MPJPE mm"), ("mpjpe_mm", "MPJPE mm"), ("pve_mm", "PVE mm"),
           ("pa_pve_mm", "PA-PVE mm"), ("root_error_mm", "root mm"), ("error_2d_px", "2D px"),
           ("error_2d_pct", "2D % height"))
BINS = ("all",) + VIEWS + ("upright", "bent", "uncut", "truncated")


def error_2d_px(fitted_2d: np.ndarray, case: RealisticCase) -> float:
    """Median pixel distance of fitted body keypoints (K, 2) to the case's noise-free ones,
    over those inside the image (NaN if none)."""
    inside = inside_image(case.keypoints_2d[BODY], case.image_size)
    if not inside.any():
        return float("nan")
    return float(np.median(np.linalg.norm(fitted_2d[BODY][inside] - case.keypoints_2d[BODY][inside], axis=-1)))


def is_catastrophic(error_px: float, body_height_px: float, share: float = CATASTROPHIC_SHARE) -> bool:
    """Whether a 2D error (px) exceeds ``share`` of the body's height in pixels."""
    return bool(error_px > share * body_height_px)


def case_metrics(case: RealisticCase, fit: PersonFit) -> dict[str, float | bool]:
    """Every per-case metric of ``fit`` against ``case`` (see the module docstring)."""
    body, truth = fit.keypoints_3d[BODY], case.keypoints_3d[BODY]
    vertices, true_vertices = fit.vertices.astype(np.float64), case.vertices.astype(np.float64)
    centred = (vertices - body[MID_HIP]) - (true_vertices - truth[MID_HIP])
    error_2d = error_2d_px(fit.keypoints_2d, case)
    joints = [torch.as_tensor(x, dtype=torch.float64) for x in (body, truth)]
    surface = [torch.as_tensor(x) for x in (vertices, true_vertices)]
    return {"pa_mpjpe_mm": 1000 * float(pa_mpjpe(*joints)), "mpjpe_mm": 1000 * float(mpjpe(*joints, MID_HIP)),
            "pve_mm": 1000 * float(np.linalg.norm(centred, axis=-1).mean()),
            "pa_pve_mm": 1000 * float(pa_mpjpe(*surface)),
            "root_error_mm": 1000 * float(np.linalg.norm(body[MID_HIP] - truth[MID_HIP])),
            "error_2d_px": error_2d, "error_2d_pct": 100 * error_2d / case.body_height_px,
            "catastrophic": is_catastrophic(error_2d, case.body_height_px)}


def prior_overrides(spec: str | None) -> tuple[str | None, dict]:
    """A label (None: the schedule's own prior) and the overrides for a body pose prior spec:
    None (the config's own), ``none`` / ``l2_angles`` (the L2 angle prior), ``default`` (the
    shipped VPoser) or a VPoser checkpoint path."""
    if spec is None:
        return None, {}
    if spec in ("none", "l2_angles"):
        return "l2_angles", {"body_pose_prior": "l2_angles"}
    if spec != "default" and not Path(spec).exists():
        raise ValueError(f"--priors/--vposer: {spec!r} is not none, l2_angles, default or an existing checkpoint path")
    return ("vposer" if spec == "default" else f"vposer={spec}"), {"body_pose_prior": "vposer", "vposer": spec}


def case_intrinsics(case: RealisticCase, focal: str) -> np.ndarray:
    """The intrinsics (4,) the fit is given: the true ones, or the default focal length
    (the image diagonal, as ``fit.py`` without EXIF) at the image centre."""
    if focal == "true":
        return case.intrinsics
    height, width = case.image_size
    return np.array([default_focal(width, height)] * 2 + [width / 2, height / 2])


def fit_cases(cases: list[RealisticCase], config: FitConfig, bank: ModelBank, batch_size: int, focal: str,
              from_truth: bool) -> tuple[list[dict], list[PersonFit | None]]:
    """One row per case (bins, status, metrics, seconds) and its fit (None when skipped)."""
    tasks, rows = [], []
    for case in cases:
        task, reason = build_task(case.observed, case_intrinsics(case, focal), case.image_size, config, case.case_id, 0,
                                  initial=case.initial_params() if from_truth else None)
        tasks.append(task)
        rows.append({**case.describe(), "status": "skipped" if task is None else "ok", "reason": reason})
    todo = [t for t in tasks if t is not None]
    start = time.perf_counter()
    with tqdm(total=len(todo), desc="fitting", unit="person", leave=False) as bar:
        fitted = iter(fit_tasks(todo, bank, batch_size, on_batch=lambda batch: bar.update(len(batch))))
    wall = time.perf_counter() - start
    fits = [next(fitted) if task is not None else None for task in tasks]
    for case, row, fit in zip(cases, rows, fits):
        if fit is not None and fit.status != "ok":
            row.update(status="failed", reason=fit.reason)
        elif fit is not None:
            row.update(case_metrics(case, fit), seconds=fit.time_s, turned=fit.turned)
    for row in rows:
        row["wall_s_per_person"] = wall / max(1, sum(f is not None for f in fits))
    return rows, fits


def bins_of(row: dict) -> list[str]:
    """The bins a case's row counts in."""
    return ["all", row["view"], row["posture"], "truncated" if row["truncated"] else "uncut"]


def summarize(rows: list[dict]) -> dict[str, dict]:
    """Per bin: cases, fitted, each metric's mean and median, catastrophic rate, s/person."""
    summary = {}
    for name in BINS:
        members = [row for row in rows if name in bins_of(row)]
        ok = [row for row in members if row["status"] == "ok"]
        entry = {"cases": len(members), "fitted": len(ok)}
        for key, _ in METRICS:
            values = np.array([row[key] for row in ok], dtype=np.float64)
            values = values[np.isfinite(values)]
            entry[key] = {"mean": float(values.mean()) if len(values) else None,
                          "median": float(np.median(values)) if len(values) else None}
        entry["catastrophic_rate"] = float(np.mean([row["catastrophic"] for row in ok])) if ok else None
        entry["seconds_per_person"] = float(np.mean([row["seconds"] for row in ok])) if ok else None
        summary[name] = entry
    return summary


def _number(value: float | None, scale: float = 1.0, digits: int = 1) -> str:
    """``value`` times ``scale`` for a table cell; '-' for None (an empty bin)."""
    return "-" if value is None else f"{scale * value:.{digits}f}"


def table(summary: dict[str, dict]) -> str:
    """Markdown: one row per bin; each metric as median / mean."""
    head = "| bin | cases | fitted | " + " | ".join(f"{label} (med / mean)" for _, label in METRICS)
    lines = [head + " | catastrophic |", "|---" * (len(METRICS) + 4) + "|"]
    for name, entry in summary.items():
        cells = [f"{_number(entry[key]['median'])} / {_number(entry[key]['mean'])}" for key, _ in METRICS]
        lines.append(f"| {name} | {entry['cases']} | {entry['fitted']} | " + " | ".join(cells)
                     + f" | {_number(entry['catastrophic_rate'], 100)} % |")
    return "\n".join(lines)


def section(name: str, summary: dict[str, dict]) -> str:
    """Markdown: a run's heading, its table and its seconds per person."""
    seconds = _number(summary["all"]["seconds_per_person"], digits=3)
    return f"## {name}\n\n{table(summary)}\n\nseconds per person (a batch's wall time shared by its people): {seconds}"


def comparison(results: dict[str, dict[str, dict]]) -> str:
    """Markdown: every run's overall medians side by side."""
    lines = ["| run | PA-MPJPE mm | MPJPE mm | PVE mm | root mm | 2D px | catastrophic | s/person |",
             "|---|---|---|---|---|---|---|---|"]
    for run, summary in results.items():
        entry = summary["all"]
        cells = [_number(entry[key]["median"]) for key in ("pa_mpjpe_mm", "mpjpe_mm", "pve_mm", "root_error_mm",
                                                           "error_2d_px")]
        lines.append(f"| {run} | " + " | ".join(cells) + f" | {_number(entry['catastrophic_rate'], 100)} % | "
                     f"{_number(entry['seconds_per_person'], digits=3)} |")
    return "\n".join(lines)


def write_cases(folder: Path, cases: list[RealisticCase], rows: list[dict], fits: list[PersonFit | None]) -> None:
    """One JSON per case: its description, metrics, true and fitted parameters."""
    for case, row, fit in zip(cases, rows, fits):
        record = {**row, "truth": {k: v.tolist() for k, v in case.initial_params().items()},
                  "observed": case.observed.tolist()}
        if fit is not None and fit.status == "ok":
            record["fit"] = {k: np.asarray(v).tolist() for k, v in fit.params.items()}
        write_json(folder / "cases" / f"{case.case_id}.json", record)


def overlay(case: RealisticCase, fit: PersonFit, faces: np.ndarray, row: dict) -> np.ndarray:
    """(H, 2W, 3) the truth (left) and the fit (right) over a grey frame, each with the
    observed keypoints drawn, labelled with the case's bins and errors."""
    height, width = case.image_size
    grey = np.full((height, width, 3), 128, dtype=np.uint8)
    observed = case.observed
    panels = []
    for vertices in (case.vertices, fit.vertices):
        image = render_overlay(grey, [np.asarray(vertices, dtype=np.float64)], faces, case.intrinsics)
        panels.append(draw_openpose(image, observed[BODY], observed[LEFT_HAND], observed[RIGHT_HAND], observed[FACE]))
    text = (f"{case.case_id} {case.view} {case.posture}{' truncated' if case.truncated else ''}  "
            f"PA-MPJPE {row['pa_mpjpe_mm']:.0f} mm  2D {row['error_2d_pct']:.1f} %")
    panels[0] = draw_label(panels[0], "truth  " + text)
    panels[1] = draw_label(panels[1], "fit")
    return np.concatenate(panels, axis=1)


def write_worst(folder: Path, cases: list[RealisticCase], rows: list[dict], fits: list[PersonFit | None],
                faces: np.ndarray, count: int) -> None:
    """Overlays of the ``count`` cases with the largest PA-MPJPE."""
    fitted = [i for i, row in enumerate(rows) if row["status"] == "ok"]
    for rank, index in enumerate(sorted(fitted, key=lambda i: -rows[i]["pa_mpjpe_mm"])[:count]):
        image = overlay(cases[index], fits[index], faces, rows[index])
        write_png(folder / "worst" / f"{rank:02d}_{cases[index].case_id}.png", image)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--config", type=Path, default=config_path("fit_smplx"))
    parser.add_argument("--vposer", default=None, help="default|none|PATH (default: the config's prior)")
    parser.add_argument("--priors", nargs="+", default=None,
                        help="several priors on the same cases: l2_angles|none, default (shipped VPoser), PATH")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--focal", choices=("true", "diagonal"), default="true",
                        help="the fit gets the true focal length, or the image diagonal (no EXIF)")
    parser.add_argument("--oracle", action="store_true", help="also fit from the true parameters")
    parser.add_argument("--starts", nargs="+", choices=STARTS, default=["rest"], help="runs (see the docstring)")
    parser.add_argument("--regressor", type=Path, default=None, help="regressor checkpoint (default: the config's)")
    parser.add_argument("--pose-starts", type=int, nargs="+", default=None,
                        help="the regressor run once per count of extra pose-cluster starts")
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--worst", type=int, default=6, help="overlays of this many worst cases per run")
    return parser.parse_args(argv)


STARTS = ("rest", "regress_only", "regressor_full", "regressor")


def run_configs(args: argparse.Namespace) -> list[tuple[str, FitConfig]]:
    """(label, config) of every run ``--starts`` and ``--priors`` ask for, each composed from the
    config file and its overrides before one parse (``fitting.config.compose``)."""
    data = read_yaml(args.config)
    checkpoint = {} if args.regressor is None else {"regressor": {"checkpoint": str(args.regressor)}}

    def config_of(init: str, overrides: dict, schedule: str | None = None) -> FitConfig:
        """Starts from ``init`` and runs the schedule named ``schedule`` (default: ``init``'s)."""
        composed = compose(data, {"init": schedule or init, **checkpoint, **overrides}, str(args.config))
        return parse_config({**composed, "init": init}, str(args.config))

    runs = []
    for start in args.starts:
        if start == "rest":  # SMPLify-X's start and schedule
            for spec in args.priors or [args.vposer]:
                label, overrides = prior_overrides(spec)
                config = config_of("rest", overrides)
                runs.append((label or config.body_pose_prior, config))
        elif start == "regressor_full":
            runs.append(("regressor + rest schedule", config_of("regressor", {}, schedule="rest")))
        elif start == "regress_only":
            runs.append(("regressor alone", config_of("regressor", {"regress_only": True})))
        else:
            counts = args.pose_starts or [config_of("regressor", {}).regressor.pose_starts]
            for count in counts:
                label = "regressor + short schedule" + (f", {count} pose starts" if args.pose_starts else "")
                runs.append((label, config_of("regressor", {"regressor": {**checkpoint.get("regressor", {}),
                                                                          "pose_starts": count}})))
    return runs


def run(args: argparse.Namespace, cases: list[RealisticCase], faces: np.ndarray) -> dict[str, dict]:
    """Fits ``cases`` once per run (and from the truth with ``--oracle``); summaries by run."""
    results = {}
    for label, config in run_configs(args):
        bank = ModelBank({config.model_type: config}, device=args.device)
        for from_truth in (False, True) if args.oracle and not config.regress_only else (False,):
            name = f"{label}, from the truth" if from_truth else label
            print(f"{name}: fitting {len(cases)} cases", file=sys.stderr)
            rows, fits = fit_cases(cases, config, bank, args.batch_size, args.focal, from_truth)
            results[name] = summarize(rows)
            print(section(name, results[name]) + "\n")
            if args.output:
                folder = args.output / name.replace(", from the truth", "_from_truth").replace("/", "_")
                write_cases(folder, cases, rows, fits)
                write_worst(folder, cases, rows, fits, faces, args.worst)
    return results


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    model = BodyModel(load_config(args.config).model_type)
    start = time.perf_counter()
    cases = make_cases(model, args.cases, args.seed)
    print(f"{len(cases)} cases drawn in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    results = run(args, cases, model.faces)
    text = "\n\n".join(section(name, summary) for name, summary in results.items())
    if len(results) > 1:
        print(comparison(results))
        text += "\n\n## overall\n\n" + comparison(results)
    if args.output:
        settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
        settings["distribution"] = dataclasses.asdict(CaseDistribution())
        write_text_atomic(args.output / "summary.md", f"# accuracy benchmark\n\n`{json.dumps(settings)}`\n\n{text}\n")
        write_json(args.output / "summary.json", {"settings": settings, "results": results})


if __name__ == "__main__":
    main()
