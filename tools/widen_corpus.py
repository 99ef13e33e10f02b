"""Widen the motion corpus within each split: recombined and generated poses, self-intersecting
ones rejected, written as clips in data/poses/widened/ and added to index.yaml.

    python tools/widen_corpus.py [--root data/poses] [--scale 1.0] [--seed 0]

- recombined: the lower body of one real frame with the upper body of another frame of the
  same split (motion.augment.recombine); train with train, held-out with held-out only.
- generated (bend, crouch, kneel): near-upright real frames of the split with forward trunk
  flexion, hip flexion and knee bend added within motion.augment.FLEXION_LIMITS.

A candidate is rejected when its SMPL-X neutral mesh has more intersecting triangle pairs
(collision.search.find_collisions, the fitting term's part rules) than both its source frame
(the more of the two for a recombination) and the 75th percentile of the split's real frames drawn (real
crouches and floor poses touch thigh to belly and intersect a little too), or when its measured hip flexion exceeds 130 degrees or
its knee bend 150. Prints the counts, rejection rates and angle percentiles.

Shapes: N poses, V vertices.
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
from bodyfit.collision.config import CollisionConfig  # noqa: E402
from bodyfit.collision.search import find_collisions  # noqa: E402
from bodyfit.collision.term import model_pair_rules  # noqa: E402
from bodyfit.fileio.atomic import atomic_path  # noqa: E402
from bodyfit.motion.augment import KINDS, add_flexion, recombine, sample_flexion  # noqa: E402
from bodyfit.motion.corpus import DEFAULT_ROOT, load_corpus  # noqa: E402
from tools.build_motion_index import read_rows, widened_rows, write_index  # noqa: E402
from tools.corpus_stats import clip_measures, hip_flexion, knee_bend, posed_joints, summarise, trunk_flexion  # noqa: E402

# Candidates drawn per split and kind (before rejection); held-out about a third of train's.
CANDIDATES = {"train": {"recombined": 1200, "bend": 400, "crouch": 400, "kneel": 400},
              "heldout": {"recombined": 400, "bend": 130, "crouch": 130, "kneel": 130}}
HIP_MAX, KNEE_MAX = 130.0, 150.0  # measured limits, degrees
PAIRS_PERCENTILE = 75
UPRIGHT = {"trunk": (-20.0, 30.0), "hip": 45.0, "knee": 45.0}  # base frames for generated poses


class CollisionCounter:
    """Intersecting triangle pairs of the SMPL-X neutral mesh posed by (N, 66) poses."""

    def __init__(self, model: BodyModel, chunk: int = 32) -> None:
        self.model, self.chunk = model, chunk
        self.config = CollisionConfig()
        self.rules = model_pair_rules(model, self.config)

    def __call__(self, poses: np.ndarray) -> np.ndarray:
        counts = []
        for start in range(0, len(poses), self.chunk):
            part = torch.as_tensor(poses[start:start + self.chunk], dtype=self.model.smpl.v_template.dtype)
            params = self.model.zero_params(len(part))
            params.global_orient, params.body_pose = part[:, :3], part[:, 3:66]
            with torch.no_grad():
                vertices = self.model(params).vertices  # (n, V, 3)
            pairs = find_collisions(vertices, self.rules, self.config.cell_size, self.config.max_pairs_per_triangle)
            counts.append(pairs.counts(len(part)).cpu().numpy())
        return np.concatenate(counts) if counts else np.zeros(0, int)


def split_frames(split: str, root: Path) -> tuple[np.ndarray, list[str], list[str]]:
    """Real poses (N, 66) of ``split``, each frame's 'clip:frame' name, and the licences."""
    clips = load_corpus(split, root)
    names = [f"{clip.name}:{i}" for clip in clips for i in range(len(clip.poses))]
    return np.concatenate([clip.poses for clip in clips]), names, sorted({clip.licence for clip in clips})


def upright_frames(model: BodyModel, poses: np.ndarray) -> np.ndarray:
    """Indices of frames near upright (trunk, both hips and knees within UPRIGHT)."""
    joints = posed_joints(model, poses)
    hips, knees = hip_flexion(joints).reshape(2, -1), knee_bend(joints).reshape(2, -1)
    trunk = trunk_flexion(joints)
    keep = ((trunk > UPRIGHT["trunk"][0]) & (trunk < UPRIGHT["trunk"][1]) & (np.abs(hips) < UPRIGHT["hip"]).all(0)
            & (knees < UPRIGHT["knee"]).all(0))
    return np.flatnonzero(keep)


def within_limits(model: BodyModel, poses: np.ndarray) -> np.ndarray:
    """(N,) bool: measured hip flexion <= HIP_MAX and knee bend <= KNEE_MAX on both sides."""
    joints = posed_joints(model, poses)
    return (hip_flexion(joints).reshape(2, -1) <= HIP_MAX).all(0) & (knee_bend(joints).reshape(2, -1) <= KNEE_MAX).all(0)


def widen_split(model: BodyModel, counter: CollisionCounter, split: str, root: Path, scale: float,
                rng: np.random.Generator) -> dict[str, dict]:
    """Every kind's accepted poses (n, 66), source frame names and figures for one split."""
    poses, names, licences = split_frames(split, root)
    result = {}
    count = int(CANDIDATES[split]["recombined"] * scale)
    lower, upper = rng.integers(len(poses), size=count), rng.integers(len(poses), size=count)
    bases = upright_frames(model, poses)
    base_draws = {kind: rng.choice(bases, size=int(CANDIDATES[split][kind] * scale)) for kind in KINDS}
    used = np.unique(np.concatenate([lower, upper, *base_draws.values()]))
    real_pairs = np.zeros(len(poses))
    real_pairs[used] = counter(poses[used])  # only the frames drawn are searched
    allowed = np.percentile(real_pairs[used], PAIRS_PERCENTILE)
    candidates = recombine(poses[lower], poses[upper])
    keep = counter(candidates) <= np.maximum(np.maximum(real_pairs[lower], real_pairs[upper]), allowed)
    result["recombined"] = {"poses": candidates[keep], "source": "recombined", "licences": licences,
                            "from": [f"lower {names[a]} + upper {names[b]}" for a, b in zip(lower[keep], upper[keep])],
                            "candidates": count}
    for kind in KINDS:
        base = base_draws[kind]
        count = len(base)
        trunk, hip, knee = sample_flexion(kind, count, rng)
        candidates = add_flexion(poses[base], trunk, hip, knee)
        keep = within_limits(model, candidates) & (counter(candidates) <= np.maximum(real_pairs[base], allowed))
        result[kind] = {"poses": candidates[keep], "source": "generated", "licences": licences,
                        "from": [f"{names[b]} + trunk {t:.0f} hip {h:.0f} knee {k:.0f}"
                                 for b, t, h, k in zip(base[keep], trunk[keep], hip[keep], knee[keep])],
                        "candidates": count}
    print(f"{split}: real frames' intersecting pairs p50 / p75 / p90 "
          f"{' / '.join(f'{v:.0f}' for v in np.percentile(real_pairs[used], (50, 75, 90)))}", flush=True)
    return result


def write_widened(root: Path, split: str, kind: str, entry: dict) -> Path:
    """Writes one kind as an AMASS-layout clip (30 fps nominal, float32, zero translation)."""
    path = root / "widened" / f"{split}_{kind}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    clips = sorted({name.split(":")[0].split(" ")[-1] for item in entry["from"] for name in item.split(" + ")
                    if ":" in name})
    record = {"poses": entry["poses"].astype(np.float32), "trans": np.zeros((len(entry["poses"]), 3), np.float32),
              "betas": np.zeros(10, np.float32), "gender": np.array("neutral"), "mocap_framerate": np.array(30.0),
              "source": np.array(entry["source"]), "split": np.array(split),
              "licence": np.array("inherited from the source clips: " + " | ".join(entry["licences"])),
              "source_clips": np.array(clips), "source_frames": np.array(entry["from"])}
    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, **record)
    return path


def report(model: BodyModel, figures: dict[str, dict[str, dict]], root: Path) -> str:
    """A markdown table: per split and kind, poses, rejection rate and angle percentiles."""
    lines = ["| split | kind | poses | rejected | trunk p10 / p50 / p90 | hip p10 / p50 / p90 | knee p10 / p50 / p90 "
             "| trunk > 45 | hip > 90 | knee > 90 |", "|" + " --- |" * 10]
    for split, kinds in figures.items():
        rows = [("real", np.concatenate([c.poses for c in load_corpus(split, root)]), None)]
        rows += [(kind, entry["poses"], 1 - len(entry["poses"]) / entry["candidates"]) for kind, entry in kinds.items()]
        for kind, poses, rejected in rows:
            if not len(poses):
                continue
            s = summarise(clip_measures(model, poses))
            cells = [f"{s[f'{m}_p10']:.0f} / {s[f'{m}_p50']:.0f} / {s[f'{m}_p90']:.0f}" for m in ("trunk", "hip", "knee")]
            rate = "" if rejected is None else f"{100 * rejected:.0f} %"
            lines.append(f"| {split} | {kind} | {len(poses)} | {rate} | " + " | ".join(cells)
                         + f" | {100 * s['trunk_over_45']:.0f} % | {100 * s['hip_over_90']:.0f} % "
                         f"| {100 * s['knee_over_90']:.0f} % |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--scale", type=float, default=0.25, help="multiplies the candidate counts")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    model = BodyModel("smplx", "neutral")
    counter = CollisionCounter(model)
    rng = np.random.default_rng(args.seed)
    figures = {}
    for split in ("train", "heldout"):
        figures[split] = widen_split(model, counter, split, args.root, args.scale, rng)
        for kind, entry in figures[split].items():
            print(f"wrote {write_widened(args.root, split, kind, entry)}: {len(entry['poses'])} of "
                  f"{entry['candidates']} candidates", flush=True)
    write_index(args.root, read_rows(args.root) + widened_rows(args.root))
    print(report(model, figures, args.root))


if __name__ == "__main__":
    main()
