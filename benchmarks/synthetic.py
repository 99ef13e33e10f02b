"""Accuracy and speed of the fitter on synthetic cases with known parameters.

    python benchmarks/synthetic.py --cases 50

Cases come from the open model (``fitting.synthetic``): varied poses, shapes, yaw -120..120
degrees, 3-6 m away, 1000 x 1000 px images with the default focal length, keypoints with
2 px noise, confidences U(0.5, 1) and 10 % dropped. Each case is fitted on its own (batch 1,
SMPLify-X's schedule). Errors are over the 25 BODY_25 keypoints: MPJPE after aligning MidHip,
PA-MPJPE after Procrustes alignment, 2D error the median over seen body points.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bodyfit.resources import config_path  # noqa: E402
from bodyfit.fileio import keypoint_layout  # noqa: E402
from bodyfit.bodymodels.layer import BodyModel  # noqa: E402
from bodyfit.fitting.config import load_config  # noqa: E402
from bodyfit.fitting.fitter import Fitter  # noqa: E402
from bodyfit.fitting.metrics import reprojection_error  # noqa: E402
from bodyfit.fitting.synthetic import case_targets, make_case  # noqa: E402
from bodyfit.geometry import mpjpe, pa_mpjpe, project  # noqa: E402
from bodyfit.priors.factory import make_body_pose_prior  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MID_HIP = keypoint_layout.OPENPOSE["MidHip"]


def evaluate(keypoints: np.ndarray, case) -> dict[str, float]:
    body, truth = (torch.as_tensor(x[keypoint_layout.BODY], dtype=torch.float64) for x in (keypoints, case.keypoints_3d))
    return {"mpjpe_mm": 1000 * float(mpjpe(body, truth, MID_HIP)), "pa_mpjpe_mm": 1000 * float(pa_mpjpe(body, truth))}


def run_case(fitter: Fitter, model: BodyModel, case, config) -> dict:
    targets = case_targets([case], config)
    start = time.perf_counter()
    result = fitter.fit(targets, record_stages=True)
    seconds = time.perf_counter() - start
    with torch.no_grad():
        _, keypoints = model.keypoints(result.params)
    projected = project(keypoints, targets.intrinsics)[0].numpy()
    body = keypoint_layout.BODY
    row = {"seconds": seconds, "yaw_deg": case.yaw_deg, "turned": bool(result.flipped[0]),
           **evaluate(keypoints[0].numpy(), case),
           "error_2d_px": reprojection_error(projected[body], case.observed[body, :2], case.observed[body, 2],
                                             config.confidence_threshold),
           "stages": {}}
    for stage in result.stages:
        entry = {"seconds": stage.log.seconds, "evaluations": stage.log.evaluations}
        if stage.keypoints is not None:
            entry.update(evaluate(stage.keypoints[0].numpy(), case))
        row["stages"][stage.name] = entry
    return row


def percentiles(values, qs=(50, 10, 90)) -> list[float]:
    return [float(np.percentile(values, q)) for q in qs]


def report(rows: list[dict], config) -> str:
    lines = ["| measure | median | p10 | p90 |", "|---|---|---|---|"]
    for key, label in (("pa_mpjpe_mm", "PA-MPJPE (mm)"), ("mpjpe_mm", "MPJPE (mm)"),
                       ("error_2d_px", "2D error (px)"), ("seconds", "seconds per person")):
        med, p10, p90 = percentiles([r[key] for r in rows])
        lines.append(f"| {label} | {med:.1f} | {p10:.1f} | {p90:.1f} |")
    lines += ["", "| after stage | median PA-MPJPE (mm) | median MPJPE (mm) | median seconds | median evaluations |",
              "|---|---|---|---|---|"]
    for stage in ["camera"] + [s.name for s in config.stages]:
        entries = [r["stages"][stage] for r in rows]
        pa = f"{np.median([e['pa_mpjpe_mm'] for e in entries]):.1f}" if "pa_mpjpe_mm" in entries[0] else "-"
        mp = f"{np.median([e['mpjpe_mm'] for e in entries]):.1f}" if "mpjpe_mm" in entries[0] else "-"
        lines.append(f"| {stage} | {pa} | {mp} | {np.median([e['seconds'] for e in entries]):.2f} | "
                     f"{np.median([e['evaluations'] for e in entries]):.0f} |")
    turned = sum(r["turned"] for r in rows)
    tried = sum(any(k.startswith("turned/") for k in r["stages"]) for r in rows)
    lines.append(f"\n{len(rows)} cases; {tried} side views also fitted turned, {turned} kept the turned fit.")
    return "\n".join(lines)


def side_by_side(results: dict[str, list[dict]]) -> str:
    """Medians of each prior on the same cases, in one table."""
    lines = ["| prior | PA-MPJPE (mm) | MPJPE (mm) | 2D error (px) | s per person |", "|---|---|---|---|---|"]
    for spec, rows in results.items():
        med = {k: np.median([r[k] for r in rows]) for k in ("pa_mpjpe_mm", "mpjpe_mm", "error_2d_px", "seconds")}
        lines.append(f"| {spec} | {med['pa_mpjpe_mm']:.1f} | {med['mpjpe_mm']:.1f} | {med['error_2d_px']:.1f} | "
                     f"{med['seconds']:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--config", type=Path, default=config_path("fit_smplx"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None, help="also write every case's figures here")
    parser.add_argument("--priors", nargs="+", default=None,
                        help="body pose priors to compare on the same cases: l2_angles, vposer or vposer=PATH "
                             "(default: the config's)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    config = load_config(args.config, {"init": "rest"})  # SMPLify-X's schedule, which this measures
    model = BodyModel(config.model_type)
    rng = np.random.default_rng(args.seed)
    cases = [make_case(model, rng) for _ in range(args.cases)]
    results = {}
    for spec in args.priors or [config.body_pose_prior]:
        name, _, path = spec.partition("=")
        fitter = Fitter(model, make_body_pose_prior(name, path or config.vposer), config)
        rows = results[spec] = []
        bar = tqdm(cases, desc=spec, unit="case")
        for case in bar:
            rows.append(run_case(fitter, model, case, config))
            bar.set_postfix_str(f"PA-MPJPE {rows[-1]['pa_mpjpe_mm']:.1f} mm")
        print(f"## body pose prior: {spec}\n\n{report(rows, config)}\n")
    if len(results) > 1:
        print(side_by_side(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
