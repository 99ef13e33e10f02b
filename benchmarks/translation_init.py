"""Initial camera translation: SMPLify-X's similar triangles against SPIN's weighted least
squares, on the same synthetic cases: the error of the initial body position and the
accuracy after the full batched fit.

    python benchmarks/translation_init.py --cases 64

Cases as in ``benchmarks/speed.py`` (``fitting.synthetic``, seed 0). Printed per method:
median and 90th percentile of the initial MidHip position error and its depth part (m),
then PA-MPJPE, MPJPE (mm) and 2D error (px) after fitting all cases in one batch.
"""
from __future__ import annotations

import argparse
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
from bodyfit.fitting.initializers import FACING_CAMERA, rest_variables  # noqa: E402
from bodyfit.fitting.metrics import reprojection_error  # noqa: E402
from bodyfit.fitting.synthetic import case_targets, make_case  # noqa: E402
from bodyfit.geometry import mpjpe, pa_mpjpe, project  # noqa: E402
from bodyfit.priors.factory import make_body_pose_prior  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MID_HIP = keypoint_layout.OPENPOSE["MidHip"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--config", type=Path, default=config_path("fit_smplx"))
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    base = load_config(args.config, {"init": "rest"})  # SMPLify-X's schedule, which this measures
    model = BodyModel("smplx")
    prior = make_body_pose_prior(base.body_pose_prior, base.vposer)
    rng = np.random.default_rng(args.seed)
    cases = [make_case(model, rng) for _ in range(args.cases)]
    truth_hip = np.stack([c.keypoints_3d[MID_HIP] for c in cases])
    print("| translation init | init MidHip error m (median / p90) | init depth error m (median / p90) "
          "| PA-MPJPE mm | MPJPE mm | 2D px | fit s/person |")
    print("|---|---|---|---|---|---|---|")
    for method in tqdm(("similar_triangles", "least_squares"), desc="fitting", unit="method", leave=False):
        config = load_config(args.config, {"init": "rest", "translation_init": method})
        fitter = Fitter(model, prior, config)
        targets = case_targets(cases, config)
        with torch.no_grad():
            variables = rest_variables(model, prior, config, targets, FACING_CAMERA)
            _, points = model.keypoints(variables.to_params(prior))
        hip = points[:, MID_HIP].numpy()
        error = np.linalg.norm(hip - truth_hip, axis=1)
        depth = np.abs(hip[:, 2] - truth_hip[:, 2])
        start = time.perf_counter()
        result = fitter.fit(targets)
        seconds = (time.perf_counter() - start) / len(cases)
        with torch.no_grad():
            _, keypoints = model.keypoints(result.params)
        projected = project(keypoints, targets.intrinsics).numpy()
        body = keypoint_layout.BODY
        fitted, truth = keypoints[:, body].double(), torch.tensor(np.stack([c.keypoints_3d[body] for c in cases]))
        pa, mp = (1000 * pa_mpjpe(fitted, truth)).tolist(), (1000 * mpjpe(fitted, truth, MID_HIP)).tolist()
        px = [reprojection_error(projected[i][body], c.observed[body, :2], c.observed[body, 2], config.confidence_threshold)
              for i, c in enumerate(cases)]
        print(f"| {method} | {np.median(error):.3f} / {np.percentile(error, 90):.3f} "
              f"| {np.median(depth):.3f} / {np.percentile(depth, 90):.3f} | {np.median(pa):.1f} | {np.median(mp):.1f} "
              f"| {np.median(px):.2f} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
