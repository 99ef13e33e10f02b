"""Forward cost of the open model: the full mesh (smplx) and the keypoint-only pass.

    python benchmarks/forward.py --batch-sizes 1 64
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bodyfit.bodymodels.layer import BodyModel  # noqa: E402


def timed(function, repeats: int) -> float:
    """Median milliseconds of ``function()`` over ``repeats`` runs, after 3 warm-up runs."""
    for _ in range(3):
        function()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        samples.append(1000 * (time.perf_counter() - start))
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = BodyModel()
    print("| batch | full forward (ms) | full forward+backward (ms) | keypoint-only forward (ms) | "
          "keypoint-only forward+backward (ms) |")
    print("|---|---|---|---|---|")
    for batch in args.batch_sizes:
        params = model.zero_params(batch)
        for value in params.as_dict().values():
            value.requires_grad_(True)

        def full_fb(params=params) -> None:
            model(params).keypoints.sum().backward()

        def keypoints_fb(params=params) -> None:
            model.keypoints(params)[1].sum().backward()

        with torch.no_grad():
            full = timed(lambda params=params: model(params), args.repeats)
            light = timed(lambda params=params: model.keypoints(params), args.repeats)
        print(f"| {batch} | {full:.1f} | {timed(full_fb, args.repeats):.1f} | {light:.1f} | "
              f"{timed(keypoints_fb, args.repeats):.1f} |")


if __name__ == "__main__":
    main()
