"""Image bookkeeping as a consumer of person fits keyed by image id: each person's parameters
and mesh are written as their fit arrives; once all of an image's people are in, its overlay
and its record (``image.json``, written last, so that a rerun resumes after it).

Layout under the output folder:
``results/<image>/<pid:03d>.npz``, ``results/<image>/image.json``, ``meshes/<image>/<pid:03d>.obj``,
``images/<image>.png``, ``summary.json``, ``config.yaml``. Every file is written atomically.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from bodyfit.fileio.atomic import write_json, write_npz, write_obj
from bodyfit.fileio.images import ImageError, read_image, write_png
from bodyfit.fileio.keypoint_layout import BODY
from bodyfit.fitting.tasks import ModelKey, PersonFit
from bodyfit.pipeline.prepare import PreparedImage
from bodyfit.quality.assess import Quality, flagged, json_ready
from bodyfit.rendering.overlay import render_overlay

log = logging.getLogger("bodyfit")

# (image id, its record) -> None; called as each image's record is written
ImageDone = Callable[[str, dict[str, Any]], None]
# body-model key -> its (F, 3) faces
FacesOf = Callable[[ModelKey], np.ndarray]


@dataclass
class _Pending:
    prepared: PreparedImage
    started: float
    waiting: int
    meshes: dict[int, tuple[np.ndarray, ModelKey]] = field(default_factory=dict)


class ResultWriter:
    """Writes fits under ``output`` as they arrive; ``faces_of`` gives a body model's faces
    for meshes and overlays; ``on_image_done`` hears of each finished image."""

    def __init__(self, output: Path, faces_of: FacesOf, overlay: bool = True,
                 on_image_done: ImageDone | None = None) -> None:
        self.output, self.faces_of, self.overlay, self.on_image_done = Path(output), faces_of, overlay, on_image_done
        self._pending: dict[str, _Pending] = {}

    def is_done(self, image_id: str) -> bool:
        """Whether an earlier run finished this image (fitted or skipped; a failed image is
        tried again)."""
        path = record_path(self.output, image_id)
        if not path.is_file():
            return False
        try:
            return json.loads(path.read_text()).get("status") in ("ok", "skipped")
        except (OSError, ValueError):
            return False

    def clear(self, image_id: str) -> None:
        """Removes an earlier run's files of an image, its record first (so that an
        interrupted rerun redoes the image rather than trusting half of its old files)."""
        record_path(self.output, image_id).unlink(missing_ok=True)
        for folder, pattern in (("results", "*.npz"), ("meshes", "*.obj")):
            for path in (self.output / folder / image_id).glob(pattern):
                path.unlink()
        (self.output / "images" / f"{image_id}.png").unlink(missing_ok=True)

    def expect(self, prepared: PreparedImage, started: float) -> None:
        """Registers an image whose tasks are about to be fitted (clearing an earlier run's
        files of it); an image with none (failed, nobody, everyone skipped) is finished at
        once."""
        self.clear(prepared.item.stem)
        if prepared.failed or not prepared.tasks:
            self._finish(_Pending(prepared, started, 0))
            return
        self._pending[prepared.item.stem] = _Pending(prepared, started, len(prepared.tasks))

    def consume(self, fits: list[PersonFit]) -> None:
        """Writes each fit and finishes the images that are now complete."""
        for fit in fits:
            pending = self._pending[fit.image_id]
            pending.prepared.record["people"].append(self._write_person(fit, pending.prepared))
            if fit.status == "ok":
                pending.meshes[fit.person_index] = (fit.vertices, fit.model)
            pending.waiting -= 1
            if pending.waiting == 0:
                self._finish(self._pending.pop(fit.image_id))

    def write_record(self, image_id: str, record: dict[str, Any], people: dict[int, dict[str, np.ndarray]],
                     overlay: np.ndarray | None = None) -> None:
        """An image (or a multi-view instant) fitted elsewhere: each person's arrays (their
        ``vertices`` also as ``meshes/<image>/<pid>.obj``), the overlay (H, W, 3), then the
        record, last; an earlier run's files of it are cleared first."""
        self.clear(image_id)
        for index, arrays in sorted(people.items()):
            write_npz(self.output / "results" / image_id / f"{index:03d}.npz", arrays)
            if "vertices" in arrays:
                key = ModelKey(str(arrays["model_type"]), str(arrays["gender"]))
                write_obj(self.output / "meshes" / image_id / f"{index:03d}.obj", arrays["vertices"],
                          self.faces_of(key))
        if overlay is not None and self.overlay:
            write_png(self.output / "images" / f"{image_id}.png", overlay)
        write_json(record_path(self.output, image_id), record)
        if self.on_image_done is not None:
            self.on_image_done(image_id, record)

    def _write_person(self, fit: PersonFit, prepared: PreparedImage) -> dict[str, Any]:
        """The person's npz and obj; their entry in the image record."""
        if fit.status != "ok":
            entry = {"index": fit.person_index, "status": fit.status, "reason": fit.reason}
            return entry if fit.gender_choice is None else {**entry, "gender_choice": fit.gender_choice}
        intrinsics = prepared.intrinsics
        arrays = {
            **fit.params,
            "focal_length": np.array([intrinsics.fx, intrinsics.fy]),
            "camera_center": np.array([intrinsics.cx, intrinsics.cy]),
            "camera_rotation": np.eye(3), "camera_translation": np.zeros(3),
            "vertices": fit.vertices, "joints": fit.joints, "keypoints_3d": fit.keypoints_3d[BODY],
            "keypoints_2d": fit.keypoints_2d,
            "gender": np.array(fit.model.gender), "model_type": np.array(fit.model.model_type),
            "loss": np.array(fit.loss), "reprojection_error_px": np.array(fit.reprojection_error_px),
            "turned": np.array(fit.turned), "time_s": np.array(fit.time_s),
        }
        entry = {"index": fit.person_index, "status": "ok", "loss": fit.loss,
                 "reprojection_error_px": fit.reprojection_error_px, "turned": fit.turned, "time_s": fit.time_s,
                 "model_type": fit.model.model_type, "gender": fit.model.gender}
        if fit.intersecting_pairs is not None:
            arrays["intersecting_pairs"] = np.array(fit.intersecting_pairs)
            entry["intersecting_pairs"] = fit.intersecting_pairs
        arrays.update(quality_arrays(fit.quality))
        entry.update(quality=json_ready(fit.quality), flags=flagged(fit.quality))
        if fit.track_id is not None:  # a video's person: which track, which frame
            arrays["track_id"], entry["track_id"] = np.array(fit.track_id), fit.track_id
        if fit.frame_index is not None:
            arrays["frame_index"], entry["frame_index"] = np.array(fit.frame_index), fit.frame_index
        if fit.gender_choice is not None:  # --gender auto: the classifier's say and the rule that applied
            entry["gender_choice"] = fit.gender_choice
            p_female = fit.gender_choice.get("p_female")
            arrays["gender_p_female"] = np.array(np.nan if p_female is None else p_female)
        write_npz(self.output / "results" / fit.image_id / f"{fit.person_index:03d}.npz", arrays)
        write_obj(self.output / "meshes" / fit.image_id / f"{fit.person_index:03d}.obj", fit.vertices,
                  self.faces_of(fit.model))
        return entry

    def _finish(self, pending: _Pending) -> None:
        prepared = pending.prepared
        record, stem = prepared.record, prepared.item.stem
        if not prepared.failed:
            record.update(image_status(record["people"], prepared.people_in_file))
        record["people"].sort(key=lambda p: p["index"])
        if pending.meshes and self.overlay:
            self._write_overlay(prepared, pending.meshes)
        record["time_s"] = time.perf_counter() - pending.started
        write_json(record_path(self.output, stem), record)
        if self.on_image_done is not None:
            self.on_image_done(stem, record)

    def _write_overlay(self, prepared: PreparedImage, meshes: dict[int, tuple[np.ndarray, ModelKey]]) -> None:
        try:
            pixels = read_image(prepared.item.image)
        except ImageError as error:  # the file changed since it was read: the fits stand
            log.warning("%s: no overlay: %s", prepared.item.stem, error)
            return
        people = [meshes[index] for index in sorted(meshes)]
        faces = {key: self.faces_of(key) for _, key in people}
        if len(faces) > 1:  # meshes of different topologies: draw them in turn
            for vertices, key in people:
                pixels = render_overlay(pixels, [vertices], faces[key], prepared.intrinsics.as_array())
        else:
            pixels = render_overlay(pixels, [v for v, _ in people], next(iter(faces.values())),
                                    prepared.intrinsics.as_array())
        write_png(self.output / "images" / f"{prepared.item.stem}.png", pixels)


def record_path(output: Path, image_id: str) -> Path:
    """Where an image's record lives; written last, so its presence means the image is done."""
    return Path(output) / "results" / image_id / "image.json"


def image_status(people: list[dict[str, Any]], people_in_file: int) -> dict[str, str]:
    """The image's status and reason from its people's entries."""
    if people_in_file == 0:
        return {"status": "skipped", "reason": "nobody in the keypoint file"}
    if any(p["status"] == "ok" for p in people):
        return {"status": "ok"}
    failed = [p for p in people if p["status"] == "failed"]
    if failed:
        return {"status": "failed", "reason": failed[0]["reason"]}
    return {"status": "skipped", "reason": "no person with enough usable body keypoints"}


def quality_arrays(quality: Quality) -> dict[str, np.ndarray]:
    """A person's quality figures as npz arrays, one entry per figure in the same order:
    ``quality_names`` (N,) str, ``quality_values`` (N,) (NaN: not computable),
    ``quality_thresholds`` (N,), ``quality_flags`` (N,) bool."""
    names = list(quality)
    return {"quality_names": np.array(names, dtype=str),
            "quality_values": np.array([quality[n]["value"] for n in names], dtype=np.float64),
            "quality_thresholds": np.array([quality[n]["threshold"] for n in names], dtype=np.float64),
            "quality_flags": np.array([quality[n]["flag"] for n in names], dtype=bool)}


def count_flags(images: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Over the fitted people of the image records: how many carry each flag, and how many
    any flag."""
    counts: dict[str, int] = {}
    flagged_people = 0
    for record in images.values():
        for person in record.get("people", []):
            flags = person.get("flags", []) if person.get("status") == "ok" else []
            for name in flags:
                counts[name] = counts.get(name, 0) + 1
            flagged_people += bool(flags)
    return {"flags": counts, "people_flagged": flagged_people}


def summarise(output: Path, stems: list[str], seconds: float, notes: dict[str, Any] | None = None) -> dict:
    """The run's summary from every image's record under ``output`` (including those of
    earlier runs), with the quality flags counted (``flags``: name -> people,
    ``people_flagged``: people with any flag)."""
    images, counts, people = {}, {"ok": 0, "skipped": 0, "failed": 0}, 0
    for stem in stems:
        path = record_path(output, stem)
        record = json.loads(path.read_text()) if path.is_file() else {"status": "failed", "reason": "not processed"}
        images[stem] = record
        counts[record["status"]] += 1
        people += sum(p["status"] == "ok" for p in record.get("people", []))
    return {"counts": counts, "people_fitted": people, **count_flags(images), "run_seconds": seconds,
            **(notes or {}), "images": images}
