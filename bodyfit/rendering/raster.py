"""A small software rasteriser: painter's algorithm over Pillow polygon fills.

Good enough for overlays, documentation renders and picking which triangle lies under a
pixel. Coordinates follow OpenCV's convention: x right, y down, z forward (metres); a pixel is
``u = fx * x / z + cx``, ``v = fy * y / z + cy``.

Shapes: V vertices, F triangles, H x W image.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw


@dataclass
class MeshLayer:
    """One mesh to draw: ``vertices`` (V, 3) in the camera frame, ``faces`` (F, 3),
    ``color`` RGB in 0..255."""

    vertices: np.ndarray
    faces: np.ndarray
    color: tuple[int, int, int] = (170, 190, 230)


@dataclass
class RenderResult:
    """``image`` (H, W, 3) uint8 RGB; ``face_ids`` (H, W) int32, the index of the visible
    triangle in the concatenated faces of all layers, -1 where none; ``layer_ids`` (H, W)
    int32, the layer of that triangle, -1 where none."""

    image: np.ndarray
    face_ids: np.ndarray
    layer_ids: np.ndarray


def look_at_camera(
    eye: np.ndarray, target: np.ndarray, up: tuple[float, float, float] = (0.0, 1.0, 0.0)
) -> tuple[np.ndarray, np.ndarray]:
    """World-to-camera rotation (3, 3) and translation (3,) of an OpenCV camera at ``eye``
    looking at ``target`` with ``up`` pointing up in the image."""
    forward = np.asarray(target, float) - np.asarray(eye, float)
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, np.asarray(up, float))
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    rotation = np.stack([right, down, forward])  # rows: camera axes in world coordinates
    return rotation, -rotation @ np.asarray(eye, float)


def _face_shading(tris: np.ndarray) -> np.ndarray:
    """Lambert intensity in [0, 1] per triangle (F,) for a light at the camera."""
    normals = np.cross(tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True) + 1e-12
    view = tris.mean(axis=1)
    view /= np.linalg.norm(view, axis=1, keepdims=True) + 1e-12
    return np.abs((normals * view).sum(axis=1))


def rasterize(
    layers: list[MeshLayer],
    intrinsics: np.ndarray,
    image_size: tuple[int, int],
    background: np.ndarray | None = None,
    opacity: float = 1.0,
) -> RenderResult:
    """Draw ``layers`` with the pinhole ``intrinsics`` (3, 3) into an image of
    ``image_size`` (H, W), over ``background`` (H, W, 3) RGB when given.

    Triangles are drawn far to near (painter's algorithm over all layers together, so
    several people are depth-ordered); triangles behind the camera are skipped.
    """
    height, width = image_size
    if background is None:
        canvas = np.full((height, width, 3), 255, np.uint8)
    else:
        if background.shape[:2] != (height, width):
            raise ValueError(f"background must be {(height, width)}, got {background.shape[:2]}")
        canvas = background.astype(np.uint8).copy()
    face_ids = np.full((height, width), -1, np.int32)
    layer_ids = np.full((height, width), -1, np.int32)
    if not layers:
        return RenderResult(canvas, face_ids, layer_ids)

    tris_all, colors, owners = [], [], []
    for index, layer in enumerate(layers):
        tris = np.asarray(layer.vertices, np.float64)[np.asarray(layer.faces)]  # (F, 3, 3)
        tris_all.append(tris)
        colors.append(np.tile(np.asarray(layer.color, np.float64), (len(tris), 1)))
        owners.append(np.full(len(tris), index, np.int32))
    tris = np.concatenate(tris_all)
    base_colors = np.concatenate(colors)
    owner = np.concatenate(owners)

    depth = tris[:, :, 2]
    in_front = depth.min(axis=1) > 1e-6
    shade = 0.25 + 0.75 * _face_shading(tris)
    uv = tris[:, :, :2] / np.maximum(depth[:, :, None], 1e-6)
    uv = uv * intrinsics[[0, 1], [0, 1]] + intrinsics[[0, 1], [2, 2]]
    visible = in_front & np.all(np.abs(uv) < 1e7, axis=(1, 2))
    order = np.argsort(-depth.mean(axis=1))
    order = order[visible[order]]

    # One fill per triangle into an id image; colours and layers are looked up afterwards.
    id_image = Image.new("I", (width, height), -1)
    draw = ImageDraw.Draw(id_image)
    for face in order:
        draw.polygon([tuple(point) for point in uv[face].tolist()], fill=int(face))
    face_ids = np.asarray(id_image, dtype=np.int32).copy()
    covered = face_ids >= 0
    layer_ids[covered] = owner[face_ids[covered]]
    colors = base_colors[face_ids[covered]] * shade[face_ids[covered], None]
    blended = canvas.astype(np.float64)
    blended[covered] = (1 - opacity) * blended[covered] + opacity * colors
    return RenderResult(np.clip(blended, 0, 255).astype(np.uint8), face_ids, layer_ids)
