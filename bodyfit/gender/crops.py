"""The person crop the classifier sees: the seen keypoints' box grown by a margin on each side,
made square about its centre, cut from the image (black where it leaves the image) and resized.

Shapes: K keypoints (x, y, confidence) in bodyfit's layout (``fileio.keypoint_layout``), S the crop side.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from bodyfit.fileio.keypoint_layout import BODY


@dataclass(frozen=True)
class SquareBox:
    """A square in image pixels: top-left corner (``x0``, ``y0``) and ``side``."""

    x0: float
    y0: float
    side: float

    def as_extent(self) -> tuple[float, float, float, float]:
        return self.x0, self.y0, self.x0 + self.side, self.y0 + self.side


def seen_body_points(keypoints: np.ndarray, confidence_threshold: float) -> np.ndarray:
    """(25,) which BODY_25 points of ``keypoints`` (K, 3) are seen."""
    body = np.asarray(keypoints, dtype=np.float64)[BODY]
    return (body[:, 2] > confidence_threshold) & np.isfinite(body[:, :2]).all(axis=1)


def person_box(keypoints: np.ndarray, confidence_threshold: float, margin: float) -> SquareBox | None:
    """The square crop of a person's seen body points (K, 3); None with fewer than two."""
    body = np.asarray(keypoints, dtype=np.float64)[BODY]
    points = body[seen_body_points(keypoints, confidence_threshold), :2]
    if len(points) < 2:
        return None
    return square_around(points, 1 + 2 * margin, min_side=1.0)  # ``margin`` on each side


def square_around(points: np.ndarray, scale: float, min_side: float = 0.0) -> SquareBox:
    """The square about the centre of the box of ``points`` (N, 2), its side the box's longer
    side times ``scale`` (at least ``min_side``)."""
    low, high = points.min(axis=0), points.max(axis=0)
    side = max(float((high - low).max()) * scale, min_side)
    centre = 0.5 * (low + high)
    return SquareBox(float(centre[0] - side / 2), float(centre[1] - side / 2), side)


def cut_crop(image: np.ndarray, box: SquareBox, size: int) -> np.ndarray:
    """(size, size, 3) uint8: ``box`` of ``image`` (H, W, 3) uint8 RGB, black outside the image,
    resized with antialiasing."""
    x0, y0, x1, y1 = (int(round(v)) for v in box.as_extent())
    crop = Image.fromarray(np.ascontiguousarray(image[..., :3])).crop((x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)))
    return np.array(crop.resize((size, size), Image.BILINEAR, reducing_gap=2.0))  # writable: torch takes it as is


def crop_intrinsics(intrinsics: np.ndarray, box: SquareBox, size: int) -> np.ndarray:
    """(4,) fx, fy, cx, cy of a camera that sees exactly ``box`` of the image of
    ``intrinsics`` (4,) at ``size`` pixels: for rendering straight into the crop."""
    fx, fy, cx, cy = np.asarray(intrinsics, dtype=np.float64)
    scale = size / box.side
    return np.array([fx * scale, fy * scale, (cx - box.x0) * scale, (cy - box.y0) * scale])
