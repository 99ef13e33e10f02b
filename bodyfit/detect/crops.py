"""Square crops of an image and box helpers shared by the person finder and the landmark
models. Boxes are (x0, y0, x1, y1) in image pixels, x right, y down."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass
class Crop:
    """A square window of an image, upscaled: crop pixel = (image pixel - origin) x scale."""

    pixels: np.ndarray
    origin: np.ndarray
    scale: float

    def to_image(self, normalized: np.ndarray) -> np.ndarray:
        """Landmarks normalised to the crop (N, 2) -> image pixels (N, 2)."""
        size = np.array([self.pixels.shape[1], self.pixels.shape[0]], float)
        return normalized * size / self.scale + self.origin


def square_crop(image: np.ndarray, centre: np.ndarray, side: float, min_side: int) -> Crop:
    """The ``side`` x ``side`` window around ``centre``, padded with the image's mean colour
    where it leaves the image, upscaled so that its side is at least ``min_side``."""
    side = max(float(side), 2.0)
    origin = np.round(np.asarray(centre, float) - side / 2)
    size = int(np.ceil(side))
    height, width = image.shape[:2]
    window = np.empty((size, size, 3), np.uint8)
    window[:] = image.reshape(-1, 3).mean(axis=0).astype(np.uint8)
    x0, y0 = int(origin[0]), int(origin[1])
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + size, width), min(y0 + size, height)
    if sx1 > sx0 and sy1 > sy0:
        window[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = image[sy0:sy1, sx0:sx1]
    scale = max(1.0, min_side / size)
    if scale > 1.0:
        target = int(round(size * scale))
        window = np.asarray(Image.fromarray(window).resize((target, target), Image.BILINEAR))
        scale = target / size
    return Crop(np.ascontiguousarray(window), origin, scale)


def grow(box: np.ndarray, margin: float) -> np.ndarray:
    """``box`` grown on every side by ``margin`` times its size."""
    extent = box[2:] - box[:2]
    return np.concatenate([box[:2] - margin * extent, box[2:] + margin * extent])


def overlap_fraction(box: np.ndarray, other: np.ndarray) -> float:
    """The fraction of ``box``'s area that lies inside ``other``."""
    inner = np.clip(np.minimum(box[2:], other[2:]) - np.maximum(box[:2], other[:2]), 0, None)
    area = np.prod(np.clip(box[2:] - box[:2], 1e-9, None))
    return float(np.prod(inner) / area)


def paint(image: np.ndarray, box: np.ndarray, color: np.ndarray, keep: np.ndarray | None = None) -> None:
    """Fill ``box`` of ``image`` with ``color`` in place, leaving the ``keep`` box untouched."""
    height, width = image.shape[:2]
    x0, y0 = np.clip(np.floor(box[:2]), 0, [width, height]).astype(int)
    x1, y1 = np.clip(np.ceil(box[2:]), 0, [width, height]).astype(int)
    saved = None
    if keep is not None:
        k0, l0 = np.clip(np.floor(keep[:2]), 0, [width, height]).astype(int)
        k1, l1 = np.clip(np.ceil(keep[2:]), 0, [width, height]).astype(int)
        saved = (l0, l1, k0, k1, image[l0:l1, k0:k1].copy())
    image[y0:y1, x0:x1] = color
    if saved is not None:
        l0, l1, k0, k1, pixels = saved
        image[l0:l1, k0:k1] = pixels


def mean_color(image: np.ndarray) -> np.ndarray:
    """The mean colour (3,) uint8 of ``image`` (H, W, 3): what painted-over boxes are filled with."""
    return image.reshape(-1, 3).mean(axis=0).astype(np.uint8)


Window = tuple[np.ndarray, float]  # a square window: centre (2,) and side, image pixels


def box_window(box: np.ndarray, margin: float) -> Window:
    """The square window around ``box`` (4,): side = its longer side x (1 + 2 x margin)."""
    box = np.asarray(box, float)
    return (box[:2] + box[2:]) / 2, float((box[2:] - box[:2]).max() * (1 + 2 * margin))


def head_window(head: np.ndarray, heads: float) -> Window:
    """A square window ``heads`` head sides wide around the head box ``head`` (4,), shifted
    down by (heads - 3) / 2 head sides to take in the shoulders and chest. MediaPipe's person
    detector finds a person whose face fills enough of its input (about a third of it for a
    small, blurred face); a window around the whole body of a small person does not give it
    that."""
    head = np.asarray(head, float)
    side = float(head[2] - head[0])
    shift = max(heads - 3.0, 0.0) / 2 * side
    return (head[:2] + head[2:]) / 2 + np.array([0.0, shift]), heads * side


def clip_box(box: np.ndarray, height: int, width: int) -> np.ndarray:
    """``box`` (4,) clipped to an image of ``height`` x ``width`` pixels."""
    return np.clip(np.asarray(box, float), 0, [width, height, width, height])
