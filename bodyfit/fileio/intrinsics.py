"""Camera intrinsics per image: given, from a ``<stem>_camera.json`` sidecar, from EXIF's
35 mm-equivalent focal length, or the image diagonal; principal point at the image centre
unless the sidecar says otherwise."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FILM_DIAGONAL_35MM = math.hypot(36.0, 24.0)  # mm


@dataclass(frozen=True)
class Intrinsics:
    """Focal lengths and principal point in pixels, and where they came from."""

    fx: float
    fy: float
    cx: float
    cy: float
    source: str

    def as_array(self) -> np.ndarray:
        """(4,) fx, fy, cx, cy."""
        return np.array([self.fx, self.fy, self.cx, self.cy])


def focal_from_exif(image_path: Path, width: int, height: int) -> float | None:
    """Focal length (px) from EXIF's 35 mm-equivalent focal length, if the image has it.
    The 35 mm equivalent is defined on the film diagonal, so f_px = f35 * diag_px / 43.27."""
    try:
        from PIL import Image

        with Image.open(image_path) as image:
            exif = image.getexif()
            value = exif.get_ifd(0x8769).get(0xA405)  # Exif IFD, FocalLengthIn35mmFilm
    except Exception:  # unreadable EXIF is the same as none
        return None
    if not value:
        return None
    return float(value) * math.hypot(width, height) / FILM_DIAGONAL_35MM


def default_focal(width: int, height: int) -> float:
    """The focal length of a typical camera when nothing better is known: the image
    diagonal in pixels, a 53-degree diagonal field of view (a 40 mm lens on 35 mm film)."""
    return math.hypot(width, height)


def read_sidecar(image_path: Path) -> dict | None:
    """``<stem>_camera.json`` beside the image: {"fx", "fy", "cx", "cy"} (pixels)."""
    path = image_path.with_name(f"{image_path.stem}_camera.json")
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        return {key: float(data[key]) for key in ("fx", "fy", "cx", "cy")}
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path}: needs numbers fx, fy, cx, cy ({error})") from error


def resolve_intrinsics(image_path: Path, width: int, height: int, focal_length: str | float) -> Intrinsics:
    """Intrinsics for one image. ``focal_length`` is ``"auto"`` (sidecar, else EXIF, else
    the image diagonal) or a number of pixels (SMPLify-X used 5000)."""
    if focal_length != "auto":
        focal = float(focal_length)
        return Intrinsics(focal, focal, width / 2, height / 2, "given")
    sidecar = read_sidecar(image_path)
    if sidecar is not None:
        return Intrinsics(sidecar["fx"], sidecar["fy"], sidecar["cx"], sidecar["cy"], "sidecar")
    focal = focal_from_exif(image_path, width, height)
    source = "exif"
    if focal is None:
        focal, source = default_focal(width, height), "diagonal"
    return Intrinsics(focal, focal, width / 2, height / 2, source)
