"""Speed of fitting: SMPLify-X's reference mode against batched fitting, on the same cases.

    python benchmarks/speed.py --cases 64 --batch-sizes 1 16 64 --lm-batch-sizes 64

Runs, in one invocation, the same synthetic cases (``fitting.synthetic``: varied poses and
views, 2 px noise, 10 % dropped points): (a) the reference mode (torch L-BFGS with strong
Wolfe, one person at a time, the turned fit after), (b) the batched L-BFGS at each batch
size, (c) with ``--lm-batch-sizes``, the batched Levenberg-Marquardt solver. Prints per mode
the median and 90th-percentile seconds per person (a batch's wall time shared by its
people), people per minute, PA-MPJPE, MPJPE and 2D error, the ratio of (a) to each batched
run and the per-case PA-MPJPE differences to (a); then where the batched L-BFGS's time goes
(forward, backward, optimiser, outputs) and the cost of one keypoint-only forward+backward
per person, the floor the optimiser's overhead is measured against.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.synthetic import evaluate  # noqa: E402
from bodymodels import openpose  # noqa: E402
from bodymodels.layer import BodyModel  # noqa: E402
from fitting import batch_lbfgs as batch_module  # noqa: E402
from fitting import outputs  # noqa: E402
from fitting.camera import project  # noqa: E402
from fitting.config import load_config  # noqa: E402
from fitting.fitter import Fitter  # noqa: E402
from fitting.metrics import reprojection_error  # noqa: E402
from fitting.synthetic import case_targets, make_case  # noqa: E402
from priors.body_pose import make_body_pose_prior  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


class Profile:
    """Accumulates forward and backward seconds of the batched optimiser's evaluations."""

    def __init__(self) -> None:
        self.forward = self.backward = 0.0
        self.evaluations = 0

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
            return values.detach(), grad.detach()

        batch_module._value_and_grad = timed
        return original


def fit_mode(model, prior, config, cases, batch_size: int) -> tuple[list[dict], float]:
    fitter = Fitter(model, prior, config)
    rows, total = [], 0.0
    for begin in range(0, len(cases), batch_size):
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
            body = openpose.BODY
            rows.append({"seconds": seconds / len(chunk), **evaluate(keypoints[row].numpy(), case),
                         "error_2d_px": reprojection_error(pixels[row, body], case.observed[body, :2],
                                                           case.observed[body, 2], config.confidence_threshold)})
    return rows, total


def floor_per_person(model, prior, batch: int, repeats: int = 20) -> float:
    """Seconds of one keypoint-only forward + backward (with the prior's decode) per person."""
    params = model.zero_params(batch)
    latent = prior.initial_latent(batch).requires_grad_(True)
    for value in params.as_dict().values():
        value.requires_grad_(True)
    for _ in range(3):
        params.body_pose = prior.decode(latent)
        model.keypoints(params)[1].sum().backward()
    start = time.perf_counter()
    for _ in range(repeats):
        params.body_pose = prior.decode(latent)
        model.keypoints(params)[1].sum().backward()
    return (time.perf_counter() - start) / repeats / batch


def output_cost(model, config, cases, count: int = 8) -> float:
    """Seconds per person of what fit.py does after fitting: full mesh, npz, obj."""
    params = model.zero_params(1)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        for index in range(count):
            with torch.no_grad():
                out = model(params)
            outputs.write_npz(Path(tmp) / f"{index}.npz", {"vertices": out.vertices[0].numpy()})
            outputs.write_obj(Path(tmp) / f"{index}.obj", out.vertices[0].numpy(), model.faces)
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
    parser.add_argument("--config", type=Path, default=REPO / "cfg" / "fit_smplx.yaml")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--lm-batch-sizes", type=int, nargs="*", default=[],
                        help="also fit with the batched Levenberg-Marquardt solver at these batch sizes")
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--budgets", type=int, nargs="+", default=None,
                        help="override batched_max_iterations: the camera stage's, then each stage's")
    parser.add_argument("--ftol", type=float, default=None, help="override batched_ftol")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    base = load_config(args.config)
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
        before = (profile.forward, profile.backward, profile.evaluations)
        rows, total = fit_mode(model, prior, batched, cases, batch_size)
        lines.append(summary_row(f"(b) batched, batch {batch_size}", rows, total, reference_total))
        print(lines[-1], file=sys.stderr)
        if reference_rows:
            paired.append(paired_line(f"batch {batch_size}", rows, reference_rows))
        last = (total, profile.forward - before[0], profile.backward - before[1], profile.evaluations - before[2], batch_size)
    for batch_size in args.lm_batch_sizes:
        rows, total = fit_mode(model, prior, dataclasses.replace(base, optimizer="batched_lm"), cases, batch_size)
        lines.append(summary_row(f"(c) batched Levenberg-Marquardt, batch {batch_size}", rows, total, reference_total))
        print(lines[-1], file=sys.stderr)
        if reference_rows:
            paired.append(paired_line(f"Levenberg-Marquardt, batch {batch_size}", rows, reference_rows))
    if paired:
        lines += ["", "Per case, batched minus reference PA-MPJPE (the same cases; fits are chaotic, see README):", ""]
        lines += paired
    total, forward, backward, evaluations, batch_size = last
    floor = floor_per_person(model, prior, batch_size)
    per_eval = total / evaluations / batch_size
    lines += ["", f"Where the time goes at batch {batch_size} ({evaluations} batched evaluations):", "",
              "| part | seconds | share |", "|---|---|---|"]
    for name, value in (("forward", forward), ("backward", backward), ("optimiser", total - forward - backward)):
        lines.append(f"| {name} | {value:.1f} | {100 * value / total:.0f} % |")
    lines += ["", f"outputs after fitting (full mesh + npz + obj): {output_cost(model, base, cases):.3f} s per person",
              f"one keypoint-only forward+backward: {1000 * floor:.2f} ms per person at batch {batch_size}; "
              f"the fitter spends {1000 * per_eval:.2f} ms per person per evaluation, {per_eval / floor:.1f}x that floor"]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
