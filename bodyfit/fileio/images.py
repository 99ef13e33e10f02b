"""Reading images and writing PNGs (Pillow), the only image I/O of the project."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from bodyfit.fileio.atomic import atomic_path

IMAGENET_MEAN = (0.485, 0.456, 0.406)
"""Per-channel RGB mean (0..1) the image networks normalise with (ImageNet's)."""
IMAGENET_STD = (0.229, 0.224, 0.225)


class ImageError(ValueError):
    """An image file that cannot be decoded; the message names the file."""


def read_image(path: Path | str) -> np.ndarray:
    """RGB uint8 (H, W, 3), turned upright by its EXIF orientation as cameras and viewers do;
    ``ImageError`` if the file is missing, cannot be decoded or is too large to decode safely
    (Pillow's decompression-bomb limit, about 179 million pixels)."""
    path = Path(path)
    try:
        with Image.open(path) as image:
            image.load()
            upright = ImageOps.exif_transpose(image)
            return np.asarray(upright.convert("RGB"), dtype=np.uint8).copy()
    except Image.DecompressionBombError as error:
        raise ImageError(f"{path}: image too large to decode safely ({error}); downscale it first") from error
    except (FileNotFoundError, IsADirectoryError, UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ImageError(f"{path}: cannot read the image (missing, corrupt or not an image): {error}") from error


def read_image_size(path: Path | str) -> tuple[int, int]:
    """(height, width) of the upright image, after checking that it decodes (``read_image``'s
    errors); the pixels are not kept."""
    height, width = read_image(path).shape[:2]
    return height, width


def write_png(path: Path | str, image_rgb: np.ndarray) -> None:
    """Write an RGB uint8 image as PNG, atomically."""
    with atomic_path(Path(path)) as tmp:
        with open(tmp, "wb") as handle:
            Image.fromarray(np.ascontiguousarray(image_rgb, dtype=np.uint8)).save(handle, format="PNG")
