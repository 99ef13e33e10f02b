"""Compare VPoser priors on the held-out real clips of the motion corpus: encode -> decode
error, latent norm, and the validity of decoded random latents. Prints markdown tables.

    python tools/prior_report.py models/vposer/open_deepmimic models/vposer/open_corpus [...]

- geodesic: mean angle (degrees) between each of the 21 body joints' rotation and its
  encode (posterior mean) -> decode reconstruction.
- joints mm: mean distance of the 21 body joints (SMPL-X neutral, body pose only, root at rest)
  between the pose and its reconstruction.
- |z|: mean norm of the encoded posterior means (a 32-d N(0, I) has norm about 5.6).
- sample validity: mean / max per-joint validity loss of 1,000 decoded N(0, I) latents.
Bins: upright vs bent (trunk flexion, root included, above 30 degrees), and per clip.

Shapes: N poses, J = 21 body joints.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import roma  # noqa: E402
import torch  # noqa: E402

from bodyfit.bodymodels.layer import BodyModel  # noqa: E402
from bodyfit.bodymodels.joints import NUM_BODY_JOINTS  # noqa: E402
from bodyfit.motion.corpus import DEFAULT_ROOT, load_corpus  # noqa: E402
from tools.corpus_stats import posed_joints, trunk_flexion  # noqa: E402
from bodyfit.vposer import losses  # noqa: E402
from bodyfit.vposer.checkpoint import load_vposer  # noqa: E402
from bodyfit.vposer.model import VPoser  # noqa: E402

BENT_DEG = 30.0
BODY_JOINTS = slice(1, 22)  # skeleton joints 1-21: hips to wrists


def body_joints(model: BodyModel, body_pose: np.ndarray) -> np.ndarray:
    """(N, 21, 3) body joints of body poses (N, 63) with the root at rest."""
    poses = np.concatenate([np.zeros((len(body_pose), 3)), body_pose], axis=1)
    return posed_joints(model, poses)[:, BODY_JOINTS]


@torch.no_grad()
def reconstruct(prior: VPoser, body_pose: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-pose geodesic error (N,) degrees, reconstructed poses (N, 63) and latent norms (N,)."""
    pose = torch.as_tensor(body_pose, dtype=torch.float32)
    latent = prior.encode(pose).mean
    decoded = prior.decode(latent).reshape(len(pose), 63)
    rotations = roma.rotvec_to_rotmat(pose.reshape(-1, NUM_BODY_JOINTS, 3))
    error = losses.geodesic_degrees(rotations, prior.decode_rotmats(latent))  # (N, J) or (N,)
    error = error.reshape(len(pose), -1).mean(1)
    return error.double().numpy(), decoded.double().numpy(), latent.norm(dim=1).double().numpy()


@torch.no_grad()
def sample_validity(prior: VPoser, count: int = 1000, seed: int = 0) -> tuple[float, float]:
    latent = torch.randn(count, prior.latent_size, generator=torch.Generator().manual_seed(seed))
    validity = losses.rotation_validity(prior.decode_rotmats(latent)) / NUM_BODY_JOINTS
    return float(validity.mean()), float(validity.max())


def evaluate_prior(path: Path, model: BodyModel, poses: np.ndarray, truth: np.ndarray) -> dict[str, np.ndarray]:
    """Per-pose figures of one prior on poses (N, 66) whose body joints are ``truth`` (N, 21, 3)."""
    prior, _ = load_vposer(path)
    geodesic, decoded, norm = reconstruct(prior, poses[:, 3:66])
    joints_mm = 1000 * np.linalg.norm(body_joints(model, decoded) - truth, axis=-1).mean(1)
    mean_validity, max_validity = sample_validity(prior)
    return {"geodesic": geodesic, "joints_mm": joints_mm, "z": norm, "validity": (mean_validity, max_validity)}


def table(priors: dict[str, dict], groups: dict[str, np.ndarray], title: str) -> str:
    """Markdown: one row per prior and group (a boolean mask over the poses)."""
    lines = [f"| prior | {title} | poses | geodesic deg | joints mm | mean abs z | sample validity mean / max |",
             "|" + " --- |" * 7]
    for name, figures in priors.items():
        for group, mask in groups.items():
            if not mask.any():
                continue
            lines.append(f"| {name} | {group} | {int(mask.sum())} | {figures['geodesic'][mask].mean():.1f} | "
                         f"{figures['joints_mm'][mask].mean():.1f} | {figures['z'][mask].mean():.2f} | "
                         f"{figures['validity'][0]:.1e} / {figures['validity'][1]:.1e} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("priors", type=Path, nargs="+", help="VPoser checkpoints or training folders")
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--per-clip", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    model = BodyModel("smplx", "neutral")
    clips = load_corpus("heldout", args.root, widened=False)
    poses = np.concatenate([clip.poses for clip in clips])
    names = np.concatenate([[clip.name] * len(clip.poses) for clip in clips])
    truth = body_joints(model, poses[:, 3:66])
    bent = trunk_flexion(posed_joints(model, poses)) > BENT_DEG
    priors = {(p.parent.name if p.suffix == ".pt" else p.name): evaluate_prior(p, model, poses, truth)
              for p in args.priors}
    everything = np.ones(len(poses), bool)
    print(table(priors, {"all": everything, "upright": ~bent, f"bent > {BENT_DEG:.0f} deg": bent}, "held-out"))
    if args.per_clip:
        print()
        print(table(priors, {clip.name: names == clip.name for clip in clips}, "clip"))


if __name__ == "__main__":
    main()
