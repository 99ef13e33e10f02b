"""Training people for the regressor: the accuracy benchmark's case generator
(``motion.cases``) run on the motion corpus's training clips, stored as flat arrays.

Each sample keeps the truth (camera-frame parameters, 3D keypoints and joints), the camera,
the noise-free 2D body keypoints and one draw of detections. ``reobserve`` draws fresh
detections from the noise-free keypoints with the generator's noise model, so every epoch
sees new noise, dropouts and truncation.

Shapes: N samples, K = 25 BODY_25 keypoints, J = 22 body joints (pelvis .. wrists).
"""
from __future__ import annotations

import multiprocessing
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from bodyfit.bodymodels.layer import BodyModel
from bodyfit.bodymodels.joints import NUM_BODY_JOINTS_WITH_PELVIS
from bodyfit.fileio.atomic import write_npz
from bodyfit.fileio.keypoint_layout import BODY, OPENPOSE
from bodyfit.motion.cases import CaseDistribution, CaseGenerator, load_pose_pool

CHUNK = 250  # samples per worker job


@dataclass
class SyntheticPeople:
    """Flat float32 arrays, one row per sample: ``global_orient`` (N, 3) camera frame,
    ``body_pose`` (N, 63), ``betas`` (N, 10), ``transl`` (N, 3), ``intrinsics`` (N, 4),
    ``image_size`` (N, 2) height, width, ``keypoints_2d`` (N, K, 2) noise-free,
    ``observed`` (N, K, 3) one draw of detections, ``keypoints_3d`` (N, K, 3),
    ``joints_3d`` (N, J, 3), ``body_height_px`` (N,), ``face_hidden`` (N,) 0/1."""

    global_orient: np.ndarray
    body_pose: np.ndarray
    betas: np.ndarray
    transl: np.ndarray
    intrinsics: np.ndarray
    image_size: np.ndarray
    keypoints_2d: np.ndarray
    observed: np.ndarray
    keypoints_3d: np.ndarray
    joints_3d: np.ndarray
    body_height_px: np.ndarray
    face_hidden: np.ndarray

    def __len__(self) -> int:
        return len(self.global_orient)

    def subset(self, rows: np.ndarray) -> "SyntheticPeople":
        return SyntheticPeople(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})

    @staticmethod
    def cat(parts: list["SyntheticPeople"]) -> "SyntheticPeople":
        return SyntheticPeople(**{f.name: np.concatenate([getattr(p, f.name) for p in parts])
                                  for f in fields(SyntheticPeople)})

    def save(self, path: Path) -> None:
        write_npz(path, {f.name: getattr(self, f.name) for f in fields(self)})

    @staticmethod
    def load(path: Path) -> "SyntheticPeople":
        try:
            with np.load(path, allow_pickle=False) as data:
                return SyntheticPeople(**{f.name: data[f.name] for f in fields(SyntheticPeople)})
        except (OSError, KeyError, ValueError) as error:
            raise ValueError(f"{path}: not a synthetic people file ({error})") from error


def _generate_chunk(job: tuple[str, bool, int, int, int]) -> SyntheticPeople:
    """``count`` samples of ``split`` drawn with the seed sequence (seed, chunk)."""
    split, widened, seed, chunk, count = job
    model = BodyModel()
    dist = CaseDistribution(split=split, frame_stride=1)
    generator = CaseGenerator(model, load_pose_pool(model, split, 1, widened=widened), dist)
    rng = np.random.default_rng([seed, chunk])
    rows = []
    for index in range(count):
        case = generator.sample(rng, f"{chunk}_{index}")
        params = case.params
        rows.append({
            "global_orient": params.global_orient[0].numpy(), "body_pose": params.body_pose[0].numpy(),
            "betas": params.betas[0].numpy(), "transl": params.transl[0].numpy(),
            "intrinsics": case.intrinsics, "image_size": np.asarray(case.image_size),
            "keypoints_2d": case.keypoints_2d[BODY], "observed": case.observed[BODY],
            "keypoints_3d": case.keypoints_3d[BODY], "joints_3d": case.joints_3d[:NUM_BODY_JOINTS_WITH_PELVIS],
            "body_height_px": np.asarray(case.body_height_px), "face_hidden": np.asarray(float(case.face_hidden)),
        })
    return SyntheticPeople(**{name: np.stack([row[name] for row in rows]).astype(np.float32) for name in rows[0]})


def generate(count: int, seed: int, split: str = "train", widened: bool = True, workers: int = 1,
             progress: bool = True) -> SyntheticPeople:
    """``count`` samples from the ``split`` clips (with the widened poses), in chunks of
    ``CHUNK`` over ``workers`` processes; the same arguments give the same samples."""
    counts = [min(CHUNK, count - start) for start in range(0, count, CHUNK)]
    jobs = [(split, widened, seed, chunk, size) for chunk, size in enumerate(counts)]
    bar = tqdm(total=count, desc=f"synthesising {split} people", unit="person", disable=not progress)
    parts = []
    if workers <= 1:
        for job in jobs:
            parts.append(_generate_chunk(job))
            bar.update(job[-1])
    else:
        with multiprocessing.get_context("spawn").Pool(workers, initializer=torch.set_num_threads,
                                                       initargs=(1,)) as pool:  # one thread per worker
            for part in pool.imap(_generate_chunk, jobs):
                parts.append(part)
                bar.update(len(part))
    bar.close()
    return SyntheticPeople.cat(parts)


def reobserve(people: SyntheticPeople, rng: np.random.Generator,
              dist: CaseDistribution | None = None) -> np.ndarray:
    """(N, K, 3) fresh detections of the noise-free body keypoints, drawn as
    ``motion.cases.observe`` draws them (noise proportional to the body's height in pixels,
    noisier points less confident, dropouts, points outside the image unseen; faces hidden on
    back views)."""
    dist = dist or CaseDistribution()
    count, points = people.keypoints_2d.shape[:2]
    sigma = rng.uniform(*dist.body_noise, size=count) * people.body_height_px
    quality = rng.random((count, points))
    noisy = people.keypoints_2d + rng.normal(size=(count, points, 2)) * (sigma[:, None] * (0.5 + quality))[..., None]
    confidence = 1.0 - (1.0 - dist.min_confidence) * quality
    unseen = rng.random((count, points)) < rng.uniform(*dist.dropout, size=count)[:, None]
    face = [OPENPOSE[name] for name in ("Nose", "REye", "LEye")]  # as motion.cases.FACE_POINTS
    unseen[:, face] |= people.face_hidden[:, None] > 0.5
    height, width = people.image_size[:, 0:1], people.image_size[:, 1:2]
    for pixels in (people.keypoints_2d, noisy):
        unseen |= ~((pixels[..., 0] >= 0) & (pixels[..., 0] < width) & (pixels[..., 1] >= 0) & (pixels[..., 1] < height))
    observed = np.concatenate([noisy, confidence[..., None]], axis=-1).astype(np.float32)
    observed[unseen] = 0.0
    return observed


def with_observed(people: SyntheticPeople, observed: np.ndarray) -> SyntheticPeople:
    return replace(people, observed=observed)
