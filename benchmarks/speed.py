"""Speed of fitting: SMPLify-X's reference mode against batched fitting, on the same cases.

    python benchmarks/speed.py --cases 64 --batch-sizes 1 16 64

Runs, in one invocation, the same synthetic cases (``fitting.synthetic``: varied poses and
views, 2 px noise, 10 % dropped points): (a) the reference mode (torch L-BFGS with strong
Wolfe, one person at a time, the turned fit after), (b) the batched L-BFGS at each batch
size. Prints per mode the median and 90th-percentile seconds per person (a batch's wall time
shared by its people), people per minute, PA-MPJPE, MPJPE and 2D error, the ratio of (a) to
each batched run and the per-case PA-MPJPE differences to (a).

Then, for the last batch size, where the time goes. Every objective evaluation the batched
L-BFGS makes (full batch or a line search's subset) is timed inside the fitter: forward and
backward of the fitter's own stage objective. Reported per evaluated row (a person in one
evaluation): that evaluation cost, and the fitter's whole wall time (starts, evaluations,
L-BFGS algebra, line-search bookkeeping) per evaluated row; their ratio is the optimiser's
overhead. For scale, each stage's objective is also timed alone at full batch (the floor).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.synthetic import evaluate  # noqa: E402
from bodyfit.resources import config_path  # noqa: E402
from bodyfit.fileio import keypoint_layout  # noqa: E402
from bodyfit.bodymodels.layer import BodyModel  # noqa: E402
from bodyfit.fitting import batch_lbfgs as batch_module  # noqa: E402
from bodyfit.fileio import atomic  # noqa: E402
from bodyfit.fitting.config import load_config  # noqa: E402
from bodyfit.fitting.fitter import Fitter  # noqa: E402
from bodyfit.fitting.initializers import FACING_CAMERA, rest_variables  # noqa: E402
from bodyfit.fitting.objective import camera_terms, stage_terms  # noqa: E402
from bodyfit.fitting.metrics import reprojection_error  # noqa: E402
from bodyfit.fitting.synthetic import case_targets, make_case  # noqa: E402
from bodyfit.geometry import project  # noqa: E402
from bodyfit.priors.factory import make_body_pose_prior  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


class Profile:
    """Accumulates forward and backward seconds of the batched optimiser's evaluations."""

    def __init__(self) -> None:
        self.forward = self.backward = 0.0
        self.evaluations = self.rows = 0

    def install(self):
        original = batch_module._value_and_grad

        def timed(objective, x, rows):
            x = x.detach().requires_grad_(True)
            start = time.perf_counter()
            with torch.enable_grad():
                values = objective(x, rows)
                middle = time.perf_counter()
                (grad,) = torch.autograd.grad(values.sum(), x)
            self.forward += middle - start
            self.backward += time.perf_counter() - middle
            self.evaluations += 1
            self.rows += len(rows)
            return values.detach(), grad.detach()

        batch_module._value_and_grad = timed
        return original


def fit_mode(model, prior, config, cases, batch_size: int) -> tuple[list[dict], float]:
    fitter = Fitter(model, prior, config)
    rows, total = [], 0.0
    for begin in tqdm(range(0, len(cases), batch_size), desc=f"fitting, batch {batch_size}", unit="batch", leave=False):
        chunk = cases[begin:begin + batch_size]
        targets = case_targets(chunk, config)
        start = time.perf_counter()
        result = fitter.fit(targets)
        seconds = time.perf_counter() - start
        total += seconds
        with torch.no_grad():
            _, keypoints = model.keypoints(result.params)
        pixels = project(keypoints, targets.intrinsics).numpy()
        for row, case in enumerate(chunk):
            body = keypoint_layout.BODY
            rows.append({"seconds": seconds / len(chunk), **evaluate(keypoints[row].numpy(), case),
                         "error_2d_px": reprojection_error(pixels[row, body], case.observed[body, :2],
                                                           case.observed[body, 2], config.confidence_threshold)})
    return rows, total


def stage_floors(model, prior, config, cases, repeats: int = 10) -> dict[str, float]:
    """Seconds per person of one forward+backward of each stage's own objective (the one the
    fitter minimises: its selected keypoints, the prior's rotations) at the batch of ``cases``,
    from the rest start, timed alone."""
    targets = case_targets(cases, config)
    variables = rest_variables(model, prior, config, targets, FACING_CAMERA)
    targets = dataclasses.replace(targets, initial_depth=variables.transl[:, 2].clone())
    objectives = {"camera": (("global_orient", "transl"),
                             lambda v: camera_terms(model, prior, v, targets, targets.initial_depth, config)["total"])}
    for stage in config.stages:
        objectives[stage.name] = (stage.free, lambda v, stage=stage: stage_terms(model, prior, v, targets, stage,
                                                                                    config)["total"])
    floors = {}
    for name, (free, objective) in objectives.items():
        x = variables.pack(free).detach().requires_grad_(True)
        for repeat in range(repeats + 2):
            if repeat == 2:
                start = time.perf_counter()
            torch.autograd.grad(objective(variables.unpack(free, x)).sum(), x)
        floors[name] = (time.perf_counter() - start) / repeats / len(cases)
    return floors


def output_cost(model, config, cases, count: int = 8) -> float:
    """Seconds per person of what fit.py does after fitting: full mesh, npz, obj."""
    params = model.zero_params(1)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        for index in range(count):
            with torch.no_grad():
                out = model(params)
            atomic.write_npz(Path(tmp) / f"{index}.npz", {"vertices": out.vertices[0].numpy()})
            atomic.write_obj(Path(tmp) / f"{index}.obj", out.vertices[0].numpy(), model.faces)
        return (time.perf_counter() - start) / count


def summary_row(name: str, rows: list[dict], total: float, reference_total: float | None) -> str:
    per = [r["seconds"] for r in rows]
    med = {k: np.median([r[k] for r in rows]) for k in ("pa_mpjpe_mm", "mpjpe_mm", "error_2d_px")}
    ratio = f"{reference_total / total:.1f}x" if reference_total else "1.0x"
    return (f"| {name} | {np.median(per):.2f} | {np.percentile(per, 90):.2f} | {60 * len(rows) / total:.1f} | "
            f"{med['pa_mpjpe_mm']:.1f} | {med['mpjpe_mm']:.1f} | {med['error_2d_px']:.1f} | {ratio} |")


def paired_line(name: str, rows: list[dict], reference_rows: list[dict]) -> str:
    """Median and mean of the per-case PA-MPJPE difference to the reference, and how often
    the batched fit is the better one."""
    difference = np.array([r["pa_mpjpe_mm"] - q["pa_mpjpe_mm"] for r, q in zip(rows, reference_rows)])
    return (f"- {name}: median {np.median(difference):+.1f} mm, mean {difference.mean():+.1f} mm, "
            f"better on {100 * (difference < 0).mean():.0f} % of cases, more than 20 mm worse on "
            f"{(difference > 20).sum()} and more than 20 mm better on {(difference < -20).sum()}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--config", type=Path, default=config_path("fit_smplx"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--budgets", type=int, nargs="+", default=None,
                        help="override batched_max_iterations: the camera stage's, then each stage's")
    parser.add_argument("--ftol", type=float, default=None, help="override batched_ftol")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    base = load_config(args.config, {"init": "rest"})  # SMPLify-X's schedule, which this measures
    model = BodyModel(base.model_type)
    prior = make_body_pose_prior(base.body_pose_prior, base.vposer)
    cases = [make_case(model, np.random.default_rng([args.seed, i])) for i in range(args.cases)]
    lines = ["| mode | median s/person | p90 s/person | people/min | PA-MPJPE (mm) | MPJPE (mm) | 2D (px) | "
             "reference / this |", "|---|---|---|---|---|---|---|---|"]
    reference_total = reference_rows = None
    paired = []
    if not args.skip_reference:
        reference_rows, reference_total = fit_mode(model, prior, dataclasses.replace(base, optimizer="lbfgs"), cases, 1)
        lines.append(summary_row("(a) reference, one at a time", reference_rows, reference_total, None))
        print(lines[-1], file=sys.stderr)
    batched = dataclasses.replace(base, optimizer="batched_lbfgs")
    if args.budgets:
        camera_budget, *stage_budgets = args.budgets
        batched = dataclasses.replace(
            batched, camera=dataclasses.replace(batched.camera, batched_max_iterations=camera_budget),
            stages=tuple(dataclasses.replace(s, batched_max_iterations=b) for s, b in zip(batched.stages, stage_budgets)))
    if args.ftol:
        batched = dataclasses.replace(batched, batched_ftol=args.ftol)
    profile = Profile()
    profile.install()
    for batch_size in args.batch_sizes:
        before = (profile.forward, profile.backward, profile.evaluations, profile.rows)
        rows, total = fit_mode(model, prior, batched, cases, batch_size)
        lines.append(summary_row(f"(b) batched, batch {batch_size}", rows, total, reference_total))
        print(lines[-1], file=sys.stderr)
        if reference_rows:
            paired.append(paired_line(f"batch {batch_size}", rows, reference_rows))
        last = (total, profile.forward - before[0], profile.backward - before[1], profile.evaluations - before[2],
                profile.rows - before[3], batch_size)
    if paired:
        lines += ["", "Per case, batched minus reference PA-MPJPE (the same cases; fits are chaotic, see README):", ""]
        lines += paired
    total, forward, backward, evaluations, rows, batch_size = last
    floors = stage_floors(model, prior, batched, cases[:batch_size])
    lines += ["", f"Where the time goes at batch {batch_size} ({evaluations} batched evaluations over {rows} rows):", "",
              "| part | seconds | share |", "|---|---|---|"]
    for name, value in (("objective forward", forward), ("objective backward", backward),
                        ("everything else (starts, L-BFGS algebra, line-search bookkeeping)", total - forward - backward)):
        lines.append(f"| {name} | {value:.1f} | {100 * value / total:.0f} % |")
    lines += ["", f"outputs after fitting (full mesh + npz + obj): {output_cost(model, base, cases):.3f} s per person",
              f"per evaluated row: {1000 * (forward + backward) / rows:.2f} ms in the objective, "
              f"{1000 * total / rows:.2f} ms of the fitter's wall time ({total / (forward + backward):.2f}x)",
              "each stage's objective timed alone at full batch, ms per person: "
              + ", ".join(f"{name} {1000 * value:.2f}" for name, value in floors.items())]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
