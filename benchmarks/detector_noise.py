"""How a real detector errs: its keypoints against the reprojection of multi-view fits.

    python benchmarks/detector_noise.py --reference MULTIVIEW_OUTPUT [--output DIR]

The reference is a ``fit.py --cameras`` output folder (e.g. of Pose2Sim's ``Demo_MultiPerson``,
[docs/real.md](../docs/real.md)): every person's results hold, per camera, the detections
matched to them (``observed_2d``) and the fit's projection (``keypoints_2d``). Their difference
is the detector's error plus the reference's own (its leave-one-camera-out error says how large
that is). Per BODY_25 joint, over every person, instant and camera, in units of the person's
height in that image (the projected keypoints' vertical extent):

- spread: 1.4826 x the median absolute residual (a robust sigma) of each coordinate;
- bias: the length of the mean residual (outliers excluded), the part that does not average out;
- outliers: residuals over 10 % of the height;
- left-right swaps: a left/right pair whose points lie nearer each other's projection than
  their own (both sides seen), per pair;
- confidence: the median error per confidence bin.

The synthetic cases' generator (``motion.sequences``) draws white jitter of 0.8-1.6 %, a slow
drift of 0.4-0.8 % and 2 % swaps per frame: the table says how real detections compare.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bodyfit.fileio.atomic import write_json, write_text_atomic  # noqa: E402
from bodyfit.fileio.keypoint_layout import OPENPOSE  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
NAMES = sorted(OPENPOSE, key=OPENPOSE.get)[:25]
PAIRS = (("RShoulder", "LShoulder"), ("RElbow", "LElbow"), ("RWrist", "LWrist"), ("RHip", "LHip"),
         ("RKnee", "LKnee"), ("RAnkle", "LAnkle"))
OUTLIER = 0.10
BINS = (0.2, 0.4, 0.6, 0.8, 1.01)


def residuals(reference: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Over every person-instant-camera with a detection: residuals (N, 25, 2) over the
    person's height, confidences (N, 25) (0: unseen), and the detections and projections
    (N, 25, 2) in pixels (for the swap test)."""
    res, conf, observed, projected = [], [], [], []
    for path in sorted((reference / "results").glob("*/*.npz")):
        with np.load(path) as fit:
            seen_2d, fitted = fit["observed_2d"], fit["keypoints_2d"]
        for obs, proj in zip(seen_2d, fitted):
            if (obs[:, 2] > 0).sum() < 6:
                continue
            height = np.ptp(proj[:, 1])
            res.append((obs[:, :2] - proj) / height)
            conf.append(obs[:, 2])
            observed.append(obs[:, :2])
            projected.append(proj)
    return np.stack(res), np.stack(conf), np.stack(observed), np.stack(projected)


def per_joint(res: np.ndarray, conf: np.ndarray) -> dict[str, dict[str, float]]:
    out = {}
    for k, name in enumerate(NAMES):
        seen = conf[:, k] > 0
        r = res[seen, k]
        if len(r) < 10:
            continue
        error = np.linalg.norm(r, axis=-1)
        inlier = r[error <= OUTLIER]
        out[name] = {"count": int(len(r)),
                     "spread": float(np.mean(1.4826 * np.median(np.abs(inlier - np.median(inlier, 0)), 0))),
                     "bias": float(np.linalg.norm(inlier.mean(0))),
                     "median_error": float(np.median(error)),
                     "outliers": float((error > OUTLIER).mean())}
    return out


def swap_rates(conf: np.ndarray, observed: np.ndarray, projected: np.ndarray) -> dict[str, float]:
    out = {}
    for right, left in PAIRS:
        r, l_ = OPENPOSE[right], OPENPOSE[left]
        both = (conf[:, r] > 0) & (conf[:, l_] > 0)
        own = np.linalg.norm(observed[both, r] - projected[both, r], axis=-1) + \
            np.linalg.norm(observed[both, l_] - projected[both, l_], axis=-1)
        crossed = np.linalg.norm(observed[both, r] - projected[both, l_], axis=-1) + \
            np.linalg.norm(observed[both, l_] - projected[both, r], axis=-1)
        out[f"{right[1:]}"] = float((crossed < own).mean()) if both.any() else float("nan")
    return out


def by_confidence(res: np.ndarray, conf: np.ndarray) -> dict[str, float]:
    error = np.linalg.norm(res, axis=-1)
    out = {}
    for low, high in zip(BINS[:-1], BINS[1:]):
        inside = (conf > low) & (conf <= high)
        out[f"{low:.1f}-{min(high, 1.0):.1f}"] = {"median_error": float(np.median(error[inside])) if inside.any()
                                                  else float("nan"), "share": float(inside.sum() / (conf > 0).sum())}
    return out


def table(result: dict) -> str:
    lines = [f"{result['samples']} person-instant-camera detections; units: % of the person's height in the image.", "",
             "| joint | seen | spread (robust sigma per axis) | bias | median error | outliers (> 10 %) |",
             "|---|---|---|---|---|---|"]
    for name, j in result["joints"].items():
        lines.append(f"| {name} | {j['count']} | {100 * j['spread']:.2f} | {100 * j['bias']:.2f} | "
                     f"{100 * j['median_error']:.2f} | {100 * j['outliers']:.1f} % |")
    lines += ["", "Left-right swaps per pair: " + ", ".join(f"{k} {100 * v:.1f} %" for k, v in result["swaps"].items()),
              "", "Median error by confidence: " + ", ".join(f"{k}: {100 * v['median_error']:.2f} % "
                                                           f"({100 * v['share']:.0f} % of points)"
                                                           for k, v in result["confidence"].items())]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", type=Path, required=True, help="a fit.py --cameras output folder")
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "detector_noise")
    args = parser.parse_args(argv)
    res, conf, observed, projected = residuals(args.reference)
    result = {"samples": len(res), "joints": per_joint(res, conf), "swaps": swap_rates(conf, observed, projected),
              "confidence": by_confidence(res, conf)}
    text = table(result)
    args.output.mkdir(parents=True, exist_ok=True)
    write_json(args.output / "detector_noise.json", json.loads(json.dumps(result)))
    write_text_atomic(args.output / "detector_noise.md", text + "\n")
    print(text)


if __name__ == "__main__":
    main()
