"""Atomic file writes: write to a temporary file beside the target, then rename, so an
interrupted run never leaves a half-written result. Text, JSON, npz and OBJ."""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import trimesh


@contextlib.contextmanager
def atomic_path(path: Path | str, suffix: str | None = None) -> Iterator[Path]:
    """Yields a temporary path to write; on success it replaces ``path`` (mode 0644)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix or path.suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text_atomic(path: Path | str, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: Path | str, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")


def write_npz(path: Path | str, arrays: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        np.savez(tmp, **arrays)


def write_obj(path: Path | str, vertices: np.ndarray, faces: np.ndarray) -> None:
    """A mesh ((V, 3) vertices, (F, 3) faces) as Wavefront OBJ."""
    mesh = trimesh.Trimesh(vertices=vertices, faces=faces, process=False)
    write_text_atomic(path, trimesh.exchange.obj.export_obj(mesh, include_normals=False))
