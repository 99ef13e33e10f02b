"""The 3D view's data, written beside the report as small scripts (a page opened from disk
may load ``<script src>`` but not fetch files): ``report_data/<image>_<pid>.js`` registers
one person's vertices, ``report_data/faces_<model>_<V>.js`` the faces of a topology, once.

Vertices (V, 3) are in the camera frame (OpenCV: x right, y down, z forward, metres), stored
as uint16 per axis over the mesh's bounding box (0.03 mm steps on a 2 m body), base64; faces
(F, 3) as uint32, base64.
"""
from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
from pathlib import Path

import numpy as np

from bodyfit.fileio.atomic import write_text_atomic
from bodyfit.report.collect import Person

log = logging.getLogger("bodyfit")

DATA_FOLDER = "report_data"


def script_name(person: Person) -> str:
    """A file name for the person's script, safe in a URL; a hash keeps ids apart that
    differ only in characters replaced."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", person.image_id)
    if safe != person.image_id:
        safe += "_" + hashlib.sha1(person.image_id.encode()).hexdigest()[:8]
    return f"{safe}_{person.index:03d}.js"


def quantize(vertices: np.ndarray) -> dict:
    """(V, 3) float vertices as uint16 steps over their bounding box: ``{"lo", "step", "q"}``."""
    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    step = np.maximum(hi - lo, 1e-9) / 65535.0
    q = np.round((vertices - lo) / step).clip(0, 65535).astype("<u2")
    return {"lo": [float(x) for x in lo], "step": [float(x) for x in step],
            "q": base64.b64encode(q.tobytes()).decode("ascii")}


def read_obj_faces(path: Path) -> np.ndarray:
    """(F, 3) int64 zero-based triangles of a Wavefront OBJ (polygons split into fans)."""
    faces = []
    for line in path.read_text().splitlines():
        if line.startswith("f "):
            corners = [int(token.split("/")[0]) - 1 for token in line.split()[1:]]
            faces.extend([corners[0], corners[i], corners[i + 1]] for i in range(1, len(corners) - 1))
    if not faces:
        raise ValueError(f"{path}: no faces")
    faces_array = np.asarray(faces, dtype=np.int64)
    if faces_array.min() < 0:
        raise ValueError(f"{path}: negative (relative) face indices are not supported")
    return faces_array


def registration(function: str, name: str, data: object) -> str:
    """A script line that hands ``data`` to the page's ``bodyfitReport.<function>``."""
    return f"bodyfitReport.{function}({json.dumps(name)}, {json.dumps(data)});\n"


class MeshScripts:
    """Writes the scripts of the 3D view under ``output/report_data``; a person's script is
    rewritten only when its result is newer, so rebuilding the report of a large run is quick."""

    def __init__(self, output: Path) -> None:
        self.output, self.folder = output, output / DATA_FOLDER
        self._topologies: dict[tuple[str, int], str | None] = {}

    def write(self, person: Person) -> str | None:
        """The person's script's URL relative to the report (None when the person has no
        result with vertices or no mesh to take faces from)."""
        npz = self.output / "results" / person.image_id / f"{person.index:03d}.npz"
        if person.status != "ok" or not npz.is_file():
            return None
        target = self.folder / script_name(person)
        if target.is_file() and target.stat().st_mtime_ns >= npz.stat().st_mtime_ns:
            return f"{DATA_FOLDER}/{target.name}"  # written by an earlier report, from this result
        try:
            with np.load(npz, allow_pickle=False) as result:
                vertices = np.asarray(result["vertices"], dtype=np.float64)  # (V, 3)
                model_type = str(result["model_type"]) if "model_type" in result.files else "model"
        except (OSError, KeyError, ValueError) as error:
            log.warning("report: %s: no 3D view: %s", npz, error)
            return None
        if vertices.ndim != 2 or vertices.shape[1] != 3 or not np.isfinite(vertices).all():
            log.warning("report: %s: no 3D view: vertices are not finite (V, 3)", npz)
            return None
        faces = self.faces_script(person, model_type, len(vertices))
        if faces is None:
            return None
        data = {"faces": faces, "model": model_type, **quantize(vertices)}
        write_text_atomic(target, registration("mesh", person.key, data))
        return f"{DATA_FOLDER}/{target.name}"

    def faces_script(self, person: Person, model_type: str, vertex_count: int) -> str | None:
        """The name of the faces' script of this topology (written from the person's OBJ
        the first time it is needed), or None when there is no usable OBJ."""
        topology = (re.sub(r"[^A-Za-z0-9_-]", "_", model_type), vertex_count)
        if self._topologies.get(topology) is None:  # a person without a usable OBJ: try the next one's
            self._topologies[topology] = self._write_faces(person, *topology)
        return self._topologies[topology]

    def _write_faces(self, person: Person, model_type: str, vertex_count: int) -> str | None:
        name = f"faces_{model_type}_{vertex_count}"
        target = self.folder / f"{name}.js"
        if target.is_file():
            return name
        obj = self.output / "meshes" / person.image_id / f"{person.index:03d}.obj"
        try:
            faces = read_obj_faces(obj)
        except (OSError, ValueError) as error:
            log.warning("report: no 3D view for %s meshes of %d vertices: %s", model_type, vertex_count, error)
            return None
        if faces.max() >= vertex_count:
            log.warning("report: %s: faces index vertex %d of %d", obj, faces.max(), vertex_count)
            return None
        encoded = base64.b64encode(faces.astype("<u4").tobytes()).decode("ascii")
        write_text_atomic(target, registration("faces", name, encoded))
        return name
