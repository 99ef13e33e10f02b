"""Trunk flexion, hip flexion and knee bend over the motion corpus, per split, measured on the
SMPL-X neutral skeleton posed by each frame.

    python tools/corpus_stats.py [--root data/poses] [--per-clip]

- trunk flexion: the angle between the pelvis -> neck direction and the vertical; positive when
  the neck is in front of the pelvis (front: the horizontal direction the hips face), negative
  behind (lying face up is about -90, face down +90).
- hip flexion: the angle between the thigh (hip -> knee) and the trunk's downward direction
  (neck -> pelvis); positive when the knee is in front of the trunk's frontal plane. Both legs.
- knee bend: the angle between the thigh and the shank (knee -> ankle); 0 is straight. Both legs.

Shapes: N frames, J = 55 skeleton joints.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bodyfit.bodymodels.layer import BodyModel  # noqa: E402
from bodyfit.bodymodels.joints import SMPLX_JOINT  # noqa: E402
from bodyfit.motion.corpus import DEFAULT_ROOT, load_corpus  # noqa: E402

UP = np.array([0.0, 1.0, 0.0])
PERCENTILES = (10, 50, 90)


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-9)


def _angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N,) degrees between vectors a (N, 3) and b (N, 3)."""
    return np.degrees(np.arccos(np.clip((_unit(a) * _unit(b)).sum(-1), -1.0, 1.0)))


def posed_joints(model: BodyModel, poses: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """(N, 55, 3) skeleton joints of poses (N, 66) at the origin, mean shape."""
    result = []
    for start in range(0, len(poses), chunk):
        part = torch.as_tensor(poses[start:start + chunk], dtype=model.smpl.v_template.dtype)
        params = model.zero_params(len(part))
        params.global_orient, params.body_pose = part[:, :3], part[:, 3:66]
        with torch.no_grad():
            result.append(model.keypoints(params)[0].double().numpy())
    return np.concatenate(result)


def trunk_flexion(joints: np.ndarray) -> np.ndarray:
    """(N,) degrees, forward positive, from skeleton joints (N, 55, 3)."""
    trunk = joints[:, SMPLX_JOINT["neck"]] - joints[:, SMPLX_JOINT["pelvis"]]
    left = joints[:, SMPLX_JOINT["left_hip"]] - joints[:, SMPLX_JOINT["right_hip"]]
    front = np.cross(left, UP)
    return np.sign((trunk * front).sum(-1) + 1e-12) * _angle(trunk, np.broadcast_to(UP, trunk.shape))


def hip_flexion(joints: np.ndarray) -> np.ndarray:
    """(2N,) degrees for the left then the right leg, forward positive."""
    down = joints[:, SMPLX_JOINT["pelvis"]] - joints[:, SMPLX_JOINT["neck"]]
    left = joints[:, SMPLX_JOINT["left_hip"]] - joints[:, SMPLX_JOINT["right_hip"]]
    front = np.cross(left, -down)
    angles = []
    for side in ("left", "right"):
        thigh = joints[:, SMPLX_JOINT[f"{side}_knee"]] - joints[:, SMPLX_JOINT[f"{side}_hip"]]
        angles.append(np.sign((thigh * front).sum(-1) + 1e-12) * _angle(thigh, down))
    return np.concatenate(angles)


def knee_bend(joints: np.ndarray) -> np.ndarray:
    """(2N,) degrees for the left then the right knee, 0 straight."""
    angles = []
    for side in ("left", "right"):
        hip, knee, ankle = (joints[:, SMPLX_JOINT[f"{side}_{j}"]] for j in ("hip", "knee", "ankle"))
        angles.append(_angle(knee - hip, ankle - knee))
    return np.concatenate(angles)


def split_stats(model: BodyModel, split: str, root: Path) -> dict[str, float]:
    """Percentiles and shares of the three angles over all frames of ``split``."""
    clips = load_corpus(split, root)
    joints = posed_joints(model, np.concatenate([clip.poses for clip in clips]))
    measures = {"trunk": trunk_flexion(joints), "hip": hip_flexion(joints), "knee": knee_bend(joints)}
    stats = {"clips": len(clips), "frames": len(joints)}
    for name, values in measures.items():
        for p, value in zip(PERCENTILES, np.percentile(values, PERCENTILES)):
            stats[f"{name}_p{p}"] = float(value)
    stats["trunk_over_45"] = float((measures["trunk"] > 45).mean())
    stats["knee_over_90"] = float((measures["knee"] > 90).mean())
    return stats


def clip_measures(model: BodyModel, poses: np.ndarray) -> dict[str, np.ndarray]:
    """Trunk (N,), hip (2N,) and knee (2N,) angles in degrees of poses (N, 66)."""
    joints = posed_joints(model, poses)
    return {"trunk": trunk_flexion(joints), "hip": hip_flexion(joints), "knee": knee_bend(joints)}


def summarise(measures: dict[str, np.ndarray]) -> dict[str, float]:
    """Percentiles and the shares of deep trunk flexion (> 45 deg), deep hip flexion (> 90 deg)
    and deep knee bend (> 90 deg) of the angles from ``clip_measures``."""
    stats = {}
    for name, values in measures.items():
        for p, value in zip(PERCENTILES, np.percentile(values, PERCENTILES)):
            stats[f"{name}_p{p}"] = float(value)
    stats["trunk_over_45"] = float((measures["trunk"] > 45).mean())
    stats["hip_over_90"] = float((measures["hip"] > 90).mean())
    stats["knee_over_90"] = float((measures["knee"] > 90).mean())
    return stats


def per_clip_table(model: BodyModel, root: Path) -> str:
    """One markdown row per clip (and per segment of a segmented clip) with its split."""
    lines = ["| clip | activity | split | frames | trunk p10 / p50 / p90 | hip p10 / p50 / p90 | knee p10 / p50 / p90 "
             "| trunk > 45 | hip > 90 | knee > 90 |", "|" + " --- |" * 10]
    for clip in load_corpus("all", root):
        parts = [(clip.name, clip.activity, clip.poses)]
        parts += [(f"  {clip.name}[{s['start']}:{s['end']}]", s["activity"], clip.poses[s["start"]:s["end"]])
                  for s in clip.segments if 1 < len(clip.segments) <= 3]
        for name, activity, poses in parts:
            s = summarise(clip_measures(model, poses))
            cells = [f"{s[f'{m}_p10']:.0f} / {s[f'{m}_p50']:.0f} / {s[f'{m}_p90']:.0f}" for m in ("trunk", "hip", "knee")]
            lines.append(f"| {name} | {activity} | {clip.split} | {len(poses)} | " + " | ".join(cells)
                         + f" | {100 * s['trunk_over_45']:.0f} % | {100 * s['hip_over_90']:.0f} % "
                         f"| {100 * s['knee_over_90']:.0f} % |")
    return "\n".join(lines)


def markdown_table(rows: dict[str, dict[str, float]]) -> str:
    header = ("| split | clips | frames | trunk flexion p10 / p50 / p90 | hip flexion p10 / p50 / p90 | "
              "knee bend p10 / p50 / p90 | trunk > 45 deg | knee > 90 deg |")
    lines = [header, "|" + " --- |" * 8]
    for split, s in rows.items():
        cells = [f"{s[f'{m}_p10']:.0f} / {s[f'{m}_p50']:.0f} / {s[f'{m}_p90']:.0f}" for m in ("trunk", "hip", "knee")]
        lines.append(f"| {split} | {s['clips']} | {s['frames']} | " + " | ".join(cells)
                     + f" | {100 * s['trunk_over_45']:.1f} % | {100 * s['knee_over_90']:.1f} % |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--per-clip", action="store_true", help="also a table per clip and per segment")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    model = BodyModel("smplx", "neutral")
    if args.per_clip:
        print(per_clip_table(model, args.root) + "\n")
    print(markdown_table({split: split_stats(model, split, args.root) for split in ("train", "heldout", "all")}))


if __name__ == "__main__":
    main()
