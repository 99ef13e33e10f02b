"""How well each quality flag separates good fits from bad ones on the realistic accuracy cases.

    python benchmarks/quality_flags.py [--cases 256] [--choose-seed 1] [--report-seed 0] [--output output/quality_flags]

Cases and metrics come from ``benchmarks/accuracy.py`` (``motion.cases``; catastrophic = 2D
error over 5 % of the body's height against the noise-free keypoints). Every case is fitted
with each of ``--runs``: ``regressor`` (``cfg/fit_smplx.yaml`` as shipped: the regressor's
start and its short schedule) and ``rest`` (SMPLify-X's rest start and five stages, which fail
more often). Each fit carries its quality figures (``quality.assess``), computed as fit.py
computes them.

Two seeds, so thresholds are not judged on the cases they were chosen on:
- ``--choose-seed``: candidates for each threshold: quantiles of the figure over the *true*
  bodies of the cases (what real people show), and the threshold with the best F1 against
  catastrophic fits; the chosen values go into ``cfg/quality.yaml`` by hand.
- ``--report-seed``: each flag under ``cfg/quality.yaml`` (as it is now): precision and
  recall against catastrophic fits and against PA-MPJPE over ``--bad-pa-mm``, per run and
  pooled; and what the figures cost per person at batch 64.

Fits are cached per (seed, run) under ``--output`` (``--refit`` redoes them), so a changed
threshold is re-reported without refitting. Writes ``summary.md`` and ``summary.json`` there.
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

from benchmarks.accuracy import fit_cases  # noqa: E402
from bodyfit.resources import config_path  # noqa: E402
from bodyfit.bodymodels.layer import BodyModel, BodyParams  # noqa: E402
from bodyfit.fileio.atomic import write_json, write_text_atomic  # noqa: E402
from bodyfit.fitting.config import FitConfig, load_config  # noqa: E402
from bodyfit.fitting.core import ModelBank  # noqa: E402
from bodyfit.fitting.tasks import build_task  # noqa: E402
from bodyfit.motion.cases import RealisticCase, make_cases  # noqa: E402
from bodyfit.quality.assess import FIGURES, FLAGGED_BELOW, FitBatch, QualityAssessor, flag_values, threshold_of  # noqa: E402
from bodyfit.quality.config import QualityConfig, load_quality_config  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RUNS = ("regressor", "rest")
QUANTILES = (0.95, 0.99, 0.999, 1.0)


def run_config(name: str, path: Path) -> FitConfig:
    """The fitting config of a run: the config's regressor start, or SMPLify-X's rest start."""
    return load_config(path, {"init": "regressor" if name == "regressor" else "rest"})


def truth_batch(cases: list[RealisticCase], config: FitConfig) -> FitBatch:
    """The true bodies of ``cases`` as a batch of 'fits' against their observed keypoints
    (confidence as a task keeps it)."""
    tasks = [build_task(c.observed, c.intrinsics, c.image_size, config, c.case_id, 0)[0] for c in cases]
    confidence = [t.confidence if t is not None else np.zeros(len(c.observed)) for t, c in zip(tasks, cases)]

    def stack(values) -> torch.Tensor:
        return torch.as_tensor(np.stack(values), dtype=torch.float32)

    params = BodyParams(**{name: torch.cat([c.params.as_dict()[name] for c in cases]).float()
                           for name in cases[0].params.as_dict()})
    return FitBatch(params, stack([c.vertices for c in cases]), stack([c.joints_3d for c in cases]),
                    stack([c.keypoints_3d for c in cases]), stack([c.keypoints_2d for c in cases]),
                    stack([c.observed[:, :2] for c in cases]), stack(confidence),
                    stack([c.intrinsics for c in cases]))


def truth_values(cases: list[RealisticCase], config: FitConfig, assessor: QualityAssessor,
                 batch_size: int) -> list[dict[str, float]]:
    """Each case's figures on its true body."""
    rows: list[dict[str, float]] = []
    for start in range(0, len(cases), batch_size):
        values = assessor.values(truth_batch(cases[start:start + batch_size], config))
        count = len(cases[start:start + batch_size])
        rows += [{name: float(v[i]) for name, v in values.items()} for i in range(count)]
    return rows


def fit_run(cases: list[RealisticCase], config: FitConfig, args: argparse.Namespace) -> list[dict]:
    """One record per case: bins, status, metrics and the fit's figure values."""
    bank = ModelBank({config.model_type: config}, device=args.device)
    start = time.perf_counter()
    rows, fits = fit_cases(cases, config, bank, args.batch_size, "true", False)
    seconds = time.perf_counter() - start
    records = []
    for row, person in zip(rows, fits):
        record = {key: row.get(key) for key in ("case_id", "view", "posture", "truncated", "status",
                                                 "pa_mpjpe_mm", "error_2d_pct", "catastrophic")}
        if person is not None and person.status == "ok":
            record["figures"] = {name: entry["value"] for name, entry in person.quality.items()}
        records.append(record)
    return [dict(r, run_seconds=seconds) for r in records]


def cached_run(folder: Path, seed: int, run: str, cases_of, args: argparse.Namespace) -> list[dict]:
    """The run's records for ``seed``, from the cache unless ``--refit``."""
    path = folder / f"seed{seed}_{run}.json"
    if path.is_file() and not args.refit:
        cached = json.loads(path.read_text())
        if cached["cases"] == args.cases:
            return cached["records"]
    print(f"seed {seed}, {run}: fitting {args.cases} cases", file=sys.stderr)
    records = fit_run(cases_of(seed), run_config(run, args.config), args)
    write_json(path, {"cases": args.cases, "records": records})
    return records


def labels(records: list[dict], bad_pa_mm: float) -> dict[str, np.ndarray]:
    """(N,) per fitted record: catastrophic, and PA-MPJPE over ``bad_pa_mm``."""
    return {"catastrophic": np.array([r["catastrophic"] for r in records], dtype=bool),
            f"PA-MPJPE > {bad_pa_mm:g} mm": np.array([r["pa_mpjpe_mm"] > bad_pa_mm for r in records], dtype=bool)}


def figure_values(records: list[dict], name: str) -> np.ndarray:
    """(N,) figure ``name`` of each fitted record (NaN where it was not computed)."""
    values = [r["figures"].get(name) for r in records]
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def precision_recall(flags: np.ndarray, bad: np.ndarray) -> dict[str, float | int | None]:
    """Flagged count, precision and recall of ``flags`` (N,) against ``bad`` (N,)."""
    hits = int((flags & bad).sum())
    return {"flagged": int(flags.sum()), "bad": int(bad.sum()), "hits": hits,
            "precision": hits / int(flags.sum()) if flags.any() else None,
            "recall": hits / int(bad.sum()) if bad.any() else None}


def flag_table(records: list[dict], config: QualityConfig, bad_pa_mm: float) -> dict[str, dict]:
    """Per figure (and 'any'): its flags' precision and recall against each label."""
    fitted = [r for r in records if "figures" in r]
    truths = labels(fitted, bad_pa_mm)
    table, any_flag = {}, np.zeros(len(fitted), dtype=bool)
    for name in FIGURES:
        values = figure_values(fitted, name)
        if np.isnan(values).all():
            continue
        flags = flag_values(name, torch.as_tensor(values), config).numpy()
        any_flag |= flags
        table[name] = {label: precision_recall(flags, bad) for label, bad in truths.items()}
        table[name]["threshold"] = threshold_of(name, config)
    table["any"] = {label: precision_recall(any_flag, bad) for label, bad in truths.items()}
    table["any"]["fitted"] = len(fitted)
    return table


def best_f1(values: np.ndarray, bad: np.ndarray, below: bool) -> dict[str, float | None]:
    """The threshold among ``values`` with the best F1 against ``bad`` (flag above it, or
    below it when ``below``)."""
    best = {"threshold": None, "f1": 0.0, "precision": None, "recall": None}
    finite = np.unique(values[np.isfinite(values)])
    for threshold in finite:
        flags = values < threshold if below else values > threshold
        hits = int((flags & bad).sum())
        if hits == 0:
            continue
        precision, recall = hits / flags.sum(), hits / bad.sum()
        f1 = 2 * precision * recall / (precision + recall)
        if f1 > best["f1"]:
            best = {"threshold": float(threshold), "f1": float(f1), "precision": float(precision),
                    "recall": float(recall)}
    return best


def candidates(records: list[dict], truth: list[dict[str, float]]) -> dict[str, dict]:
    """Per figure: quantiles over the true bodies and over the good fits, and the best-F1
    threshold against catastrophic fits (all runs pooled)."""
    fitted = [r for r in records if "figures" in r]
    bad = labels(fitted, 0.0)["catastrophic"]
    result = {}
    for name in FIGURES:
        values = figure_values(fitted, name)
        if np.isnan(values).all():
            continue
        below = name in FLAGGED_BELOW
        truth_values_ = np.array([t[name] for t in truth if name in t], dtype=np.float64)
        good = values[~bad & np.isfinite(values)]
        qs = [1 - q for q in QUANTILES] if below else list(QUANTILES)
        result[name] = {
            "truth_quantiles": {f"{q:g}": float(np.quantile(truth_values_, q)) for q in qs} if len(truth_values_) else {},
            "good_fit_quantiles": {f"{q:g}": float(np.quantile(good, q)) for q in qs} if len(good) else {},
            "bad_fit_median": float(np.median(values[bad])) if bad.any() else None,
            "best_f1_catastrophic": best_f1(values, bad, below)}
    return result


def figure_cost(cases: list[RealisticCase], config: FitConfig, assessor: QualityAssessor,
                batch_size: int) -> dict[str, float]:
    """Seconds per person for the figures at ``batch_size`` (the true bodies as fits), with
    and without the intersection search."""
    batch = truth_batch(cases[:batch_size], config)
    timings = {}
    for label, check in (("all figures", True), ("without intersections", False)):
        assessor.rules = assessor.rules if check else None
        start = time.perf_counter()
        assessor.values(batch)
        timings[label] = (time.perf_counter() - start) / len(batch.vertices)
    return timings


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f} %"


def markdown(report: dict[str, dict[str, dict]]) -> str:
    """One table per run: per flag, its threshold, how many fits it flags, and its precision
    and recall against each label."""
    sections = []
    for run, table in report.items():
        names = [k for k in table["any"] if k != "fitted"]
        counts = ", ".join(f"{k}: {table['any'][k]['bad']}" for k in names)
        fitted = table["any"]["fitted"]
        head = "| flag | threshold | flagged | " + " | ".join(f"precision, recall ({k})" for k in names) + " |"
        lines = [f"### {run} ({fitted} fits; bad: {counts})", "", head, "|---" * (3 + len(names)) + "|"]
        for name, entry in table.items():
            threshold = f"{entry['threshold']:g}" if "threshold" in entry else ""
            cells = [f"{_percent(entry[k]['precision'])}, {_percent(entry[k]['recall'])}" for k in names]
            lines.append(f"| {name} | {threshold} | {entry[names[0]]['flagged']} | " + " | ".join(cells) + " |")
        sections.append("\n".join(lines))
    return "\n\n".join(sections)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=256)
    parser.add_argument("--choose-seed", type=int, default=1, help="cases the thresholds are chosen on")
    parser.add_argument("--report-seed", type=int, default=0, help="cases the flags are judged on")
    parser.add_argument("--runs", nargs="+", choices=RUNS, default=list(RUNS))
    parser.add_argument("--config", type=Path, default=config_path("fit_smplx"))
    parser.add_argument("--quality", type=Path, default=None, help="quality thresholds (default cfg/quality.yaml)")
    parser.add_argument("--bad-pa-mm", type=float, default=150.0, help="a fit is also bad above this PA-MPJPE")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--refit", action="store_true", help="refit even where the cache has the fits")
    parser.add_argument("--report-only", action="store_true",
                        help="fit and judge the report seed only (no threshold candidates)")
    parser.add_argument("--output", type=Path, default=REPO / "output" / "quality_flags")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    quality = load_quality_config(args.quality) if args.quality else load_quality_config()
    model = BodyModel("smplx")
    cases_memo: dict[int, list[RealisticCase]] = {}

    def cases_of(seed: int) -> list[RealisticCase]:
        if seed not in cases_memo:
            cases_memo[seed] = make_cases(model, args.cases, seed)
        return cases_memo[seed]

    reported = {run: cached_run(args.output, args.report_seed, run, cases_of, args) for run in args.runs}
    base = run_config("rest", args.config)
    choice = {}
    if not args.report_only:
        chosen = {run: cached_run(args.output, args.choose_seed, run, cases_of, args) for run in args.runs}
        truth = truth_values(cases_of(args.choose_seed), base, QualityAssessor(model, quality), args.batch_size)
        choice = candidates([r for records in chosen.values() for r in records], truth)
    report = {run: flag_table(records, quality, args.bad_pa_mm) for run, records in reported.items()}
    report["all runs"] = flag_table([r for records in reported.values() for r in records], quality, args.bad_pa_mm)
    cost = figure_cost(cases_of(args.report_seed), base, QualityAssessor(model, quality), args.batch_size)
    text = (f"# quality flags\n\nreported on seed {args.report_seed}, {args.cases} cases per run; thresholds "
            f"from cfg/quality.yaml (chosen on seed {args.choose_seed})\n\n{markdown(report)}\n\n"
            f"figures' cost at batch {args.batch_size}, s/person: "
            + ", ".join(f"{k} {v:.4f}" for k, v in cost.items()) + "\n")
    print(text)
    print(json.dumps(choice, indent=1), file=sys.stderr)
    write_text_atomic(args.output / "summary.md", text)
    write_json(args.output / "summary.json", {"settings": {k: str(v) for k, v in vars(args).items()},
                                              "thresholds": dataclasses.asdict(quality), "report": report,
                                              "candidates": choice, "cost_s_per_person": cost})


if __name__ == "__main__":
    main()
