"""Does SPIN's loop improve the regressor and the fits from 2D keypoints alone?

    python benchmarks/spin_loop.py [--cases 512] [--epochs 4] [--output output/spin_loop]

Cases are the accuracy benchmark's (``motion.cases``: held-out clips, realistic cameras and
detections; a seed of their own), used as an unlabelled dataset: the loop sees only their
BODY_25 detections and cameras; their 3D truth only scores. Before and after the loop, on the
same cases: the regressor alone and the default fit started from it (``init: regressor``),
scored as ``benchmarks/accuracy.py`` scores (PA-MPJPE, MPJPE, catastrophic rate, ...). Also
the wall time per epoch per 1,000 people on this machine.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.accuracy import comparison, fit_cases, summarize  # noqa: E402
from bodyfit.resources import config_path  # noqa: E402
from bodyfit.bodymodels.layer import BodyModel  # noqa: E402
from bodyfit.fileio.atomic import write_json  # noqa: E402
from bodyfit.fileio.keypoint_layout import BODY  # noqa: E402
from bodyfit.fitting.config import load_config  # noqa: E402
from bodyfit.fitting.core import ModelBank  # noqa: E402
from bodyfit.fitting.tasks import ModelKey  # noqa: E402
from bodyfit.motion.cases import make_cases  # noqa: E402
from bodyfit.regressor.checkpoint import load_regressor, resolve  # noqa: E402
from bodyfit.regressor.image_data import ImageSample  # noqa: E402
from bodyfit.regressor.training import Learner, load_train_config  # noqa: E402
from bodyfit.spin.loop import in_loop_config, load_spin_config, run_spin  # noqa: E402
from bodyfit.regressor.training_data import real_samples  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def scored_runs(cases, checkpoint: Path, batch_size: int, label: str) -> dict[str, dict]:
    """The regressor alone and the default regressor-started fit, with ``checkpoint``."""
    results = {}
    for name, overrides in (("regressor alone", {"regress_only": True}), ("fit from the regressor", {})):
        config = load_config(config_path("fit_smplx"), {"init": "regressor", "regressor": {"checkpoint": str(checkpoint)},
                                                        **overrides})
        rows, _ = fit_cases(cases, config, ModelBank({"smplx": config}), batch_size, "true", False)
        results[f"{name}, {label}"] = summarize(rows)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=512)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=None, help="default: cfg/spin.yaml's")
    parser.add_argument("--checkpoint", default="default", help="the regressor the loop starts from")
    parser.add_argument("--batch-size", type=int, default=64, help="for the before / after fits")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path, default=REPO / "output" / "spin_loop")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = BodyModel()
    cases = make_cases(model, args.cases, args.seed)
    samples = []
    for case in cases:
        keypoints = case.observed[BODY].copy()
        samples.append(ImageSample(Path(f"{case.case_id}.png"), keypoints, case.intrinsics, case.image_size,
                                   case.case_id, 0))
    start = resolve(args.checkpoint)
    results = scored_runs(cases, start, args.batch_size, "before")
    spin = load_spin_config(config_path("spin"), {"epochs": args.epochs} if args.epochs else None)
    fitter = ModelBank({"smplx": in_loop_config(config_path("fit_smplx"), spin, "cfg/spin.yaml")}).fitter(ModelKey())
    regressor = load_regressor(start)
    train_config = load_train_config(config_path("regressor"))
    train_config = dataclasses.replace(train_config, model=regressor.shape)
    learner = Learner(regressor, model, real_samples(), train_config, torch.device("cpu"))
    history = run_spin(samples, learner, fitter, spin, args.output, resume=False)  # a fresh loop
    results.update(scored_runs(cases, args.output / "regressor.pt", args.batch_size, f"after {spin.epochs} epochs"))
    table = comparison(results)
    per_thousand = [1000 * h["seconds"] / h["people"] for h in history]
    text = (f"{table}\n\nloop: {json.dumps(history)}\n\nseconds per epoch per 1,000 people: "
            f"{np.mean(per_thousand):.0f} (median {np.median(per_thousand):.0f})")
    print(text)
    write_json(args.output / "summary.json", {"settings": {k: str(v) for k, v in vars(args).items()},
                                              "results": results, "history": history})
    (args.output / "summary.md").write_text(f"# SPIN loop benchmark\n\n{text}\n")


if __name__ == "__main__":
    main()
