"""A user's image dataset for training the regressor: photos, their OpenPose detections and,
where known, each person's parameters (fit.py's fits, say), drawn as ``SupervisedBatch``es
for the RGB encoder (HMR's crops) or the keypoint encoders (real detections).

Layout:
- ``images/``: .jpg, .jpeg, .png (``fileio.openpose_json.list_images``);
- ``keypoints/<stem>_keypoints.json``: OpenPose files, every person of the image;
- ``params/`` (optional): fit.py's output folder, ``params/results/<stem>/<pid:03d>.npz``
  (or that ``results`` folder itself, ``params/<stem>/<pid:03d>.npz``), ``pid`` the
  person's position in the keypoint file. Each npz holds camera-frame ``global_orient``
  (3,), ``body_pose`` (63,), ``betas`` (first 10 used, fewer padded with zeros) and
  ``transl`` (3,), and may hold the camera: ``intrinsics`` (4,) fx, fy, cx, cy, or fit.py's
  ``focal_length`` (2,) and ``camera_center`` (2,). A person without a file is a sample
  without parameters.

Intrinsics: the params file's; else ``focal_length`` (principal point at the image centre);
else fit.py's ``--focal-length auto``: ``<stem>_camera.json`` beside the image, the EXIF
35 mm-equivalent focal length, the image diagonal. That rule is
``fileio.intrinsics.resolve_intrinsics``.

Shapes: N samples, B batch, K = 25 BODY_25 keypoints, J = 22 joints (pelvis .. wrists).
"""
from __future__ import annotations

import logging
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from bodyfit.bodymodels.layer import BodyModel
from bodyfit.bodymodels.joints import NUM_BODY_JOINTS, NUM_BODY_JOINTS_WITH_PELVIS
from bodyfit.fileio.images import ImageError, read_image, read_image_size
from bodyfit.fileio.intrinsics import resolve_intrinsics
from bodyfit.fileio.openpose_json import ImageItem, KeypointFileError, match_images, read_openpose, usable_points
from bodyfit.regressor.body import body_points
from bodyfit.regressor.inputs import crop_images, make_input
from bodyfit.regressor.model import NUM_BETAS
from bodyfit.regressor.training import SupervisedBatch, true_rotations

log = logging.getLogger("bodyfit")

NUM_KEYPOINTS = 25
# fit.py's defaults (fitting.config.FitConfig): which detections count, and how many a person needs.
CONFIDENCE_THRESHOLD = 0.1
MIN_BODY_KEYPOINTS = 5
KEYPOINT_MARGIN = 0.5          # points further outside the image than this share of its size are unseen
CACHE_BYTES = 256 * 2**20      # decoded images kept in memory up to this many bytes
_WIDTHS = {"global_orient": 3, "body_pose": 3 * NUM_BODY_JOINTS, "transl": 3}


@dataclass
class ImageSample:
    """One person of one image: ``keypoints`` (K, 3) BODY_25 x, y (px), confidence (zero:
    unseen or unusable), ``intrinsics`` (4,) fx, fy, cx, cy, ``image_size`` (height, width),
    who it is (``stem``, ``person``: index in the keypoint file) and, when known, camera-frame
    parameters ``global_orient`` (3,), ``body_pose`` (63,), ``betas`` (10,), ``transl`` (3,)."""

    image: Path
    keypoints: np.ndarray
    intrinsics: np.ndarray
    image_size: tuple[int, int]
    stem: str
    person: int
    global_orient: np.ndarray | None = None
    body_pose: np.ndarray | None = None
    betas: np.ndarray | None = None
    transl: np.ndarray | None = None

    @property
    def has_params(self) -> bool:
        return self.global_orient is not None


def default_intrinsics(image: Path, width: int, height: int, focal_length: float | None = None) -> np.ndarray:
    """(4,) fx, fy, cx, cy of an image as fit.py chooses them (``fileio.intrinsics``):
    ``focal_length`` when given, else the sidecar, EXIF or the image diagonal."""
    return resolve_intrinsics(image, width, height, "auto" if focal_length is None else focal_length).as_array()


def usable_body(keypoints: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """(K, 3) BODY_25 detections with the points fit.py would not use set to zero
    (``fileio.openpose_json.usable_points`` with fit.py's defaults)."""
    usable = usable_points(keypoints, image_size, CONFIDENCE_THRESHOLD, KEYPOINT_MARGIN)
    return np.where(usable[:, None], keypoints, 0.0)


def params_root(params: Path) -> Path:
    """The folder of ``<stem>/<pid:03d>.npz``: ``params/results`` (fit.py's output) or ``params``."""
    results = params / "results"
    return results if results.is_dir() else params


def read_params(path: Path) -> dict[str, np.ndarray]:
    """A person's parameters (global_orient (3,), body_pose (63,), betas (10,), transl (3,))
    and, when the file has them, ``intrinsics`` (4,); ``ValueError`` naming the file and the
    problem."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: np.asarray(data[key], dtype=np.float64).reshape(-1) for key in data.files
                      if key in ("intrinsics", "focal_length", "camera_center", "betas", *_WIDTHS)}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path}: cannot read the parameters ({error})") from error
    missing = sorted({"betas", *_WIDTHS} - set(arrays))
    if missing:
        raise ValueError(f"{path}: no {', '.join(missing)}")
    for name, width in _WIDTHS.items():
        if len(arrays[name]) != width:
            raise ValueError(f"{path}: {name} must have {width} values, got {len(arrays[name])}")
    betas = arrays["betas"][:NUM_BETAS]
    params = {name: arrays[name] for name in _WIDTHS}
    params["betas"] = np.pad(betas, (0, NUM_BETAS - len(betas)))
    if "intrinsics" in arrays:
        params["intrinsics"] = arrays["intrinsics"]
    elif "focal_length" in arrays and "camera_center" in arrays:
        focal = arrays["focal_length"]
        focal = focal.repeat(2) if len(focal) == 1 else focal
        params["intrinsics"] = np.concatenate([focal, arrays["camera_center"]])
    if "intrinsics" in params and params["intrinsics"].shape != (4,):
        shape = params["intrinsics"].shape
        raise ValueError(f"{path}: the camera must be 4 values fx, fy, cx, cy, got {shape}")
    if not all(np.isfinite(value).all() for value in params.values()):
        raise ValueError(f"{path}: NaN or infinite values")
    return params


def _person_params(root: Path | None, stem: str, person: int) -> dict[str, np.ndarray]:
    """The person's parameters, or {} when there is no file or it is unusable (logged)."""
    path = None if root is None else root / stem / f"{person:03d}.npz"
    if path is None or not path.is_file():
        return {}
    try:
        return read_params(path)
    except ValueError as error:
        log.warning("%s: parameters skipped: %s", path, error)
        return {}


def _image_samples(item: ImageItem, root: Path | None, focal_length: float | None) -> list[ImageSample]:
    """The usable people of one image; ``ImageError``, ``KeypointFileError`` or ``ValueError``
    when the image or its keypoints cannot be used."""
    if item.conflict:
        shared = ", ".join(str(p) for p in item.conflict)
        raise ValueError(f"{shared} share the stem {item.stem!r} and one keypoint file: rename all but one")
    if item.keypoints is None:
        raise KeypointFileError(f"{item.image}: no keypoint file {item.stem}_keypoints.json")
    people = read_openpose(item.keypoints, allow_empty=True)
    height, width = read_image_size(item.image)
    samples = []
    for index, person in enumerate(people):
        keypoints = usable_body(person.body, (height, width))
        if (keypoints[:, 2] > 0).sum() < MIN_BODY_KEYPOINTS:
            log.info("%s person %d skipped: fewer than %d usable body keypoints", item.stem, index,
                     MIN_BODY_KEYPOINTS)
            continue
        params = _person_params(root, item.stem, index)
        intrinsics = params.pop("intrinsics", None)
        if intrinsics is None:
            intrinsics = default_intrinsics(item.image, width, height, focal_length)
        samples.append(ImageSample(item.image, keypoints, intrinsics, (height, width), item.stem, index,
                                   **params))
    return samples


def read_image_dataset(images: Path, keypoints: Path, params: Path | None = None,
                       focal_length: float | None = None) -> list[ImageSample]:
    """One sample per person with at least ``MIN_BODY_KEYPOINTS`` usable body points, over
    the images of ``images`` that have ``<stem>_keypoints.json`` in ``keypoints``; parameters
    and intrinsics as the module says. An image or keypoint file that cannot be used is
    skipped with a warning naming it; ``ValueError`` when no sample is left."""
    images, keypoints = Path(images), Path(keypoints)
    if focal_length is not None and not focal_length > 0:
        raise ValueError(f"focal_length must be positive pixels, got {focal_length}")
    root = None if params is None else params_root(Path(params))
    if root is not None and not root.is_dir():
        raise FileNotFoundError(f"{params}: not a folder of parameters (fit.py's output folder)")
    samples = []
    for item in match_images(images, keypoints):
        try:
            samples.extend(_image_samples(item, root, focal_length))
        except (ImageError, KeypointFileError, ValueError) as error:
            log.warning("%s: skipped: %s", item.image, error)
    if not samples:
        raise ValueError(f"{images}: no usable person (images with OpenPose files in {keypoints} and "
                         f"at least {MIN_BODY_KEYPOINTS} body keypoints above confidence "
                         f"{CONFIDENCE_THRESHOLD})")
    if root is not None and not any(sample.has_params for sample in samples):
        log.warning("%s: no parameter file for any sample (expected <stem>/<pid:03d>.npz)", root)
    return samples


@torch.no_grad()
def sample_joints(samples: list[ImageSample], body: BodyModel, chunk: int = 256) -> np.ndarray:
    """(N, J, 3) camera-frame joints of the samples' parameters through ``body`` (NaN for
    samples without parameters), as the regressor's prediction computes them."""
    joints = np.full((len(samples), NUM_BODY_JOINTS_WITH_PELVIS, 3), np.nan, dtype=np.float32)
    known = [index for index, sample in enumerate(samples) if sample.has_params]
    device = body.smpl.v_template.device
    for start in range(0, len(known), chunk):
        rows = known[start:start + chunk]
        chosen = [samples[index] for index in rows]
        rotations = true_rotations(np.stack([s.global_orient for s in chosen]),
                                   np.stack([s.body_pose for s in chosen])).to(device)
        betas, transl = (torch.as_tensor(np.stack([getattr(s, name) for s in chosen]), dtype=torch.float32,
                                         device=device) for name in ("betas", "transl"))
        points, _ = body_points(body, rotations, betas, transl)
        joints[rows] = points.cpu().numpy()
    return joints


class ImageCache:
    """Decoded images (3, H, W) float in [0, 1], kept while their uint8 pixels fit in
    ``budget`` bytes; the rest are read each time."""

    def __init__(self, budget: int = CACHE_BYTES) -> None:
        self.budget, self.used, self.pixels = budget, 0, {}

    def __call__(self, path: Path) -> torch.Tensor:
        pixels = self.pixels.get(path)
        if pixels is None:
            pixels = read_image(path)
            if self.used + pixels.nbytes <= self.budget:
                self.pixels[path], self.used = pixels, self.used + pixels.nbytes
        return torch.from_numpy(pixels).permute(2, 0, 1).float() / 255.0


def sample_crops(samples: list[ImageSample], boxes: torch.Tensor, crop_size: int, read: ImageCache) -> torch.Tensor:
    """(B, 3, crop_size, crop_size) the crops of the samples' images at ``boxes`` (B, 3), each
    image cropped at its own size."""
    return torch.cat([crop_images(read(s.image)[None], boxes[i:i + 1], crop_size) for i, s in enumerate(samples)])


def image_batches(samples: list[ImageSample], batch_size: int, with_images: bool, crop_size: int = 224,
                  body: BodyModel | None = None,
                  cache_bytes: int = CACHE_BYTES) -> Callable[[np.random.Generator], SupervisedBatch]:
    """Random batches (drawn with replacement) of ``samples``: the regressor's inputs of the
    detections (with ``crop_size`` RGB crops when ``with_images``, each image cropped at its
    own size), 2D targets = the detections weighted by their confidence, and the parameters
    (``joints`` too when ``body`` is given) of the samples that have them: rows without are
    filled at rest and weighted 0 (``label_weight``); a batch with none has no labels."""
    if not samples:
        raise ValueError("samples is empty")
    if batch_size < 1 or crop_size < 1:
        raise ValueError(f"batch_size and crop_size must be positive, got {batch_size} and {crop_size}")
    joints = sample_joints(samples, body) if body is not None else None
    read = ImageCache(cache_bytes)
    tensor = lambda arrays: torch.as_tensor(np.stack(arrays), dtype=torch.float32)  # noqa: E731

    def draw(rng: np.random.Generator) -> SupervisedBatch:
        rows = rng.integers(len(samples), size=batch_size)
        chosen = [samples[row] for row in rows]
        keypoints = tensor([s.keypoints for s in chosen])  # (B, K, 3)
        inputs = make_input(keypoints[..., :2], keypoints[..., 2], tensor([s.intrinsics for s in chosen]))
        if with_images:
            inputs = replace(inputs, image=sample_crops(chosen, inputs.box, crop_size, read))
        batch = SupervisedBatch(inputs, keypoints[..., :2], keypoints[..., 2])
        known = np.array([s.has_params for s in chosen])
        if known.any():
            def labels(name: str, width: int) -> np.ndarray:
                return np.stack([getattr(s, name) if s.has_params else np.zeros(width, dtype=np.float32)
                                 for s in chosen])

            batch.rotations = true_rotations(labels("global_orient", 3), labels("body_pose", 63))
            batch.betas, batch.transl = tensor(labels("betas", NUM_BETAS)), tensor(labels("transl", 3))
            batch.joints = None if joints is None else torch.as_tensor(np.nan_to_num(joints[rows]))
            batch.label_weight = torch.as_tensor(known, dtype=torch.float32)
        return batch

    return draw
