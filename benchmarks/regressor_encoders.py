"""Which input serves the regressor better: keypoint coordinates into an MLP, or per-joint
heatmaps into a ResNet-18 (Pavlakos et al. 2018, Pose2Mesh)? Both are trained the same number
of steps on the same synthetic people (train_regressor.py's cache) and evaluated on the
held-out clips' people; the table gives held-out PA-MPJPE / MPJPE (median and mean) and the
seconds per training step on this machine.

    python benchmarks/regressor_encoders.py [--steps 600] [--batch-size 64] [--encoders keypoints heatmaps]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bodyfit.resources import config_path  # noqa: E402
from bodyfit.bodymodels.layer import BodyModel  # noqa: E402
from bodyfit.regressor.training import load_train_config, synthetic_batches, train  # noqa: E402
from bodyfit.regressor.training_data import cached_people, real_samples  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--encoders", nargs="+", default=["keypoints", "heatmaps"])
    parser.add_argument("--cache", type=Path, default=REPO / ".cache" / "regressor")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path, default=None, help="write the table as JSON here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    body = BodyModel()
    rows = {}
    for encoder in args.encoders:
        config = load_train_config(config_path("regressor"), {
            "model": {"encoder": encoder},
            "training": {"steps": args.steps, "batch_size": args.batch_size, "eval_every": args.steps}})
        data = config.data
        people = cached_people(args.cache, "train", data.train_samples, data.seed, data.widened, 2)
        heldout = cached_people(args.cache, "heldout", data.heldout_samples, data.seed + 1, False, 2)
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            metrics = train(config, synthetic_batches(people, args.batch_size), body, real_samples(), Path(folder),
                            torch.device("cpu"), heldout=heldout, resume=False, progress=True)
            seconds = time.perf_counter() - start
        rows[encoder] = {**{k: v for k, v in metrics.items() if k.endswith(("_median", "_mean"))},
                         "seconds_per_step": seconds / args.steps}
        print(f"{encoder}: {json.dumps(rows[encoder])}", file=sys.stderr)
    print(f"| encoder | held-out PA-MPJPE mm (med / mean) | MPJPE mm (med / mean) | s/step (batch {args.batch_size}) |")
    print("|---|---|---|---|")
    for encoder, row in rows.items():
        print(f"| {encoder} | {row['pa_mpjpe_mm_median']:.1f} / {row['pa_mpjpe_mm_mean']:.1f} | "
              f"{row['mpjpe_mm_median']:.1f} / {row['mpjpe_mm_mean']:.1f} | {row['seconds_per_step']:.2f} |")
    if args.output:
        args.output.write_text(json.dumps({"steps": args.steps, "batch_size": args.batch_size, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
