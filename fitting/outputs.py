"""What a fit writes: per-person parameter files, meshes, overlays, per-image records and
the run summary, all written atomically.

Layout under the output folder:
``results/<stem>/<pid:03d>.npz``, ``results/<stem>/image.json``, ``meshes/<stem>/<pid:03d>.obj``,
``images/<stem>.png``, ``summary.json``, ``config.yaml``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import trimesh

from fitting.atomic import atomic_path, write_text_atomic
from rendering.raster import MeshLayer, rasterize

PERSON_COLORS = ((150, 180, 240), (130, 220, 140), (240, 150, 150), (220, 170, 230), (230, 220, 120))


def write_npz(path: Path, arrays: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        np.savez(tmp, **arrays)


def write_obj(path: Path, vertices: np.ndarray, faces: np.ndarray) -> None:
    mesh = trimesh.Trimesh(vertices=vertices, faces=faces, process=False)
    write_text_atomic(path, trimesh.exchange.obj.export_obj(mesh, include_normals=False))


def write_json(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")


def render_overlay(image_rgb: np.ndarray, people: list[np.ndarray], faces: np.ndarray,
                   intrinsics: np.ndarray) -> np.ndarray:
    """The fitted meshes (camera frame, each (V, 3)) drawn over the image, depth-ordered;
    ``intrinsics`` is fx, fy, cx, cy."""
    fx, fy, cx, cy = intrinsics
    matrix = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]])
    layers = [MeshLayer(v, faces, PERSON_COLORS[i % len(PERSON_COLORS)]) for i, v in enumerate(people)]
    return rasterize(layers, matrix, image_rgb.shape[:2], background=image_rgb, opacity=0.75).image
