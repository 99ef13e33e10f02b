"""Pictures of body-pose priors: held-out poses against their encode -> decode by each prior,
and poses decoded from random latents, rendered on the open model.

    python -m tools.render_prior_samples models/vposer/open_deepmimic models/vposer/open_corpus \
        --output docs/vposer_corpus_samples.png
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from bodyfit.bodymodels.layer import BodyModel
from bodyfit.fileio.images import write_png
from bodyfit.motion.corpus import load_corpus
from bodyfit.rendering.draw import draw_label
from tools.render_poses import render_pose
from bodyfit.vposer.checkpoint import load_vposer

BENT_SPINE_DEG = 30.0


def heldout_picks(count: int, seed: int) -> np.ndarray:
    """(count, 66) held-out real poses, half of them among the most bent (summed spine angle)."""
    poses = np.concatenate([clip.poses for clip in load_corpus("heldout")])
    spine = np.degrees(np.linalg.norm(poses[:, 3 + 3 * 2:3 + 3 * 3], axis=1)
                       + np.linalg.norm(poses[:, 3 + 3 * 5:3 + 3 * 6], axis=1)
                       + np.linalg.norm(poses[:, 3 + 3 * 8:3 + 3 * 9], axis=1))
    rng = np.random.default_rng(seed)
    bent = np.flatnonzero(spine > BENT_SPINE_DEG)
    half = count // 2
    picks = np.concatenate([rng.choice(bent, half, replace=False),
                            rng.choice(len(poses), count - half, replace=False)])
    return poses[picks]


def row(model: BodyModel, poses66: np.ndarray, label: str) -> np.ndarray:
    tiles = np.concatenate([render_pose(model, pose) for pose in poses66], axis=1)
    return draw_label(tiles, label, (8, 6))


def with_body(poses66: np.ndarray, body: np.ndarray) -> np.ndarray:
    """Poses with the root of ``poses66`` (N, 66) and the body joints ``body`` (N, 63)."""
    out = poses66.copy()
    out[:, 3:66] = body
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("priors", type=Path, nargs="+", help="VPoser checkpoints or folders")
    parser.add_argument("--columns", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args(argv)
    model = BodyModel()
    truth = heldout_picks(args.columns, args.seed)
    rows = [row(model, truth, "held-out poses")]
    latents = torch.randn(args.columns, 32, generator=torch.Generator().manual_seed(args.seed))
    upright = np.zeros((args.columns, 66))
    for path in args.priors:
        vposer, _ = load_vposer(path)
        vposer.eval()
        with torch.no_grad():
            body = torch.as_tensor(truth[:, 3:66], dtype=torch.float32)
            decoded = vposer.decode(vposer.encode(body).mean).numpy()
            samples = vposer.decode(latents[:, :vposer.latent_size]).numpy()
        name = path.stem if path.is_file() else path.name
        rows.append(row(model, with_body(truth, decoded), f"{name}: encode -> decode"))
        rows.append(row(model, with_body(upright, samples), f"{name}: random latents"))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_png(args.output, np.concatenate(rows, axis=0))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
