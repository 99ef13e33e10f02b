"""Reading images and writing PNGs (Pillow), the only image I/O of the project."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from fitting.atomic import atomic_path


class ImageError(ValueError):
    """An image file that cannot be decoded; the message names the file."""


def read_image(path: Path | str) -> np.ndarray:
    """RGB uint8 (H, W, 3), turned upright by its EXIF orientation as cameras and viewers do;
    ``ImageError`` if the file is missing or cannot be decoded."""
    path = Path(path)
    try:
        with Image.open(path) as image:
            image.load()
            upright = ImageOps.exif_transpose(image)
            return np.asarray(upright.convert("RGB"), dtype=np.uint8).copy()
    except (FileNotFoundError, IsADirectoryError, UnidentifiedImageError, OSError, SyntaxError) as error:
        raise ImageError(f"{path}: cannot read the image (missing, corrupt or not an image): {error}") from error


def write_png(path: Path | str, image_rgb: np.ndarray) -> None:
    """Write an RGB uint8 image as PNG, atomically."""
    with atomic_path(Path(path)) as tmp:
        with open(tmp, "wb") as handle:
            Image.fromarray(np.ascontiguousarray(image_rgb, dtype=np.uint8)).save(handle, format="PNG")
