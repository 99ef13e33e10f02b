"""What the regressor trains on besides its batches: synthetic people cached on disk, and the
real poses its adversarial priors learn from."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from bodyfit.motion.corpus import load_corpus
from bodyfit.regressor.synthetic import SyntheticPeople, generate
from bodyfit.regressor.training import RealSamples
from bodyfit.vposer.data import downsample, find_clips, read_clip
from bodyfit.vposer.data import mirror as mirror_body_joints


def cached_people(cache: Path, split: str, count: int, seed: int, widened: bool, workers: int,
                  progress: bool = True) -> SyntheticPeople:
    """``count`` synthetic people of ``split``, read from ``cache`` or drawn (with a progress
    bar unless ``progress`` is False) and written there."""
    path = cache / f"{split}_{count}_s{seed}{'_widened' if widened and split == 'train' else ''}.npz"
    if path.is_file():
        return SyntheticPeople.load(path)
    people = generate(count, seed, split, widened=widened and split == "train", workers=workers, progress=progress)
    people.save(path)
    return people


def real_samples(amass: Path | None = None) -> RealSamples:
    """The adversarial priors' real poses: the corpus's train poses (widened too) and, with
    ``amass``, every AMASS-format clip under that folder at 30 fps; all mirrored too."""
    body_poses = [np.concatenate([clip.poses for clip in load_corpus("train", widened=True)])[:, 3:]]
    if amass is not None:
        body_poses += [downsample(read_clip(path), 30.0) for path in find_clips(amass)]
    poses = np.concatenate(body_poses)
    return RealSamples(np.concatenate([poses, mirror_body_joints(poses)]))
