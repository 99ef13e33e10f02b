"""Fitted meshes drawn over the photo they were fitted to."""
from __future__ import annotations

import numpy as np

from bodyfit.rendering.raster import MeshLayer, rasterize

PERSON_COLORS = ((150, 180, 240), (130, 220, 140), (240, 150, 150), (220, 170, 230), (230, 220, 120))


def render_overlay(image_rgb: np.ndarray, people: list[np.ndarray], faces: np.ndarray,
                   intrinsics: np.ndarray) -> np.ndarray:
    """The fitted meshes (camera frame, each (V, 3)) drawn over the image, depth-ordered;
    ``intrinsics`` is fx, fy, cx, cy."""
    fx, fy, cx, cy = intrinsics
    matrix = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]])
    layers = [MeshLayer(v, faces, PERSON_COLORS[i % len(PERSON_COLORS)]) for i, v in enumerate(people)]
    return rasterize(layers, matrix, image_rgb.shape[:2], background=image_rgb, opacity=0.75).image
