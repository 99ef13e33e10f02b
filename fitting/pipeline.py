"""Fitting a folder: read each image and its keypoints, queue every person, fit the queue in
batches (people of several images together), write each person's results and, once all of
an image's people are done, its overlay and record. One bad image is recorded and the run
goes on.

Shapes: K keypoints.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bodymodels import openpose
from bodymodels.layer import BodyModel
from collision.search import find_collisions
from fitting import outputs
from fitting.camera import Intrinsics, project, resolve_intrinsics
from fitting.config import FitConfig
from fitting.fitter import Fitter, FitResult
from fitting.images import ImageError, read_image, write_png
from fitting.keypoints import ImageItem, KeypointFileError, read_openpose
from fitting.metrics import reprojection_error
from fitting.objective import Targets

log = logging.getLogger("bodyfit")


@dataclass
class RunOptions:
    output: Path
    focal_length: str | float = "auto"
    max_people: int | None = None
    overlay: bool = True
    overwrite: bool = False
    batch_size: int = 64


@dataclass
class PersonJob:
    """One person waiting to be fitted."""

    image: "PreparedImage"
    index: int
    keypoints: np.ndarray  # (K, 3)
    targets: Targets


@dataclass
class PreparedImage:
    """An image read and checked, with its people queued; its record fills as they finish."""

    item: ImageItem
    pixels: np.ndarray
    intrinsics: Intrinsics
    record: dict[str, Any]
    started: float
    jobs: list[PersonJob] = field(default_factory=list)
    finished: int = 0
    meshes: dict[int, np.ndarray] = field(default_factory=dict)


def person_targets(keypoints: np.ndarray, intrinsics: Intrinsics, height: int, config: FitConfig,
                   device: torch.device, dtype: torch.dtype) -> Targets:
    """Targets of one person from (K, 3) keypoints in bodyfit's layout."""
    observed = torch.as_tensor(keypoints, dtype=dtype, device=device)[None]
    confidence = observed[..., 2] * (observed[..., 2] > config.confidence_threshold)
    return Targets(observed[..., :2], confidence, intrinsics.as_tensor().to(device, dtype)[None],
                   torch.tensor([config.data_weight_scale / height], dtype=dtype, device=device))


class FolderFitter:
    """Fits the people of a sequence of images in batches and writes their results."""

    def __init__(self, model: BodyModel, fitter: Fitter, config: FitConfig, options: RunOptions) -> None:
        self.model, self.fitter, self.config, self.options = model, fitter, config, options
        self.device = model.smpl.v_template.device
        self.dtype = model.smpl.v_template.dtype

    def record_path(self, stem: str) -> Path:
        return self.options.output / "results" / stem / "image.json"

    def is_done(self, stem: str) -> bool:
        return not self.options.overwrite and self.record_path(stem).is_file()

    def run(self, items: list[ImageItem], on_image_done=None) -> None:
        """Fits every item; ``on_image_done(record)`` is called as each image completes."""
        queue: list[PersonJob] = []
        for item in items:
            prepared = self._prepare(item, on_image_done)
            if prepared is None:
                continue
            queue.extend(prepared.jobs)
            while len(queue) >= self.options.batch_size:
                self._fit_batch(queue[: self.options.batch_size], on_image_done)
                queue = queue[self.options.batch_size:]
        if queue:
            self._fit_batch(queue, on_image_done)

    def _prepare(self, item: ImageItem, on_image_done) -> PreparedImage | None:
        """Reads and checks an image; queues its people. Images that need no fitting (failed,
        nobody, everyone skipped) are finished here and None is returned."""
        started = time.perf_counter()
        record: dict[str, Any] = {"image": str(item.image), "people": []}
        try:
            pixels = read_image(item.image)
            if item.keypoints is None:
                raise KeypointFileError(f"{item.image}: no keypoint file {item.stem}_keypoints.json")
            people = read_openpose(item.keypoints, allow_empty=True)
            height, width = pixels.shape[:2]
            intrinsics = resolve_intrinsics(item.image, width, height, self.options.focal_length)
        except (ImageError, KeypointFileError, ValueError) as error:
            record.update(status="failed", reason=str(error))
            log.warning("%s: failed: %s", item.stem, error)
            self._write_record(item, record, started, on_image_done)
            return None
        record["intrinsics"] = {"fx": intrinsics.fx, "fy": intrinsics.fy, "cx": intrinsics.cx,
                                "cy": intrinsics.cy, "source": intrinsics.source}
        prepared = PreparedImage(item, pixels, intrinsics, record, started)
        for index, person in enumerate(people[: self.options.max_people]):
            keypoints = person.to_layout(self.model.use_face_contour)
            seen = int((keypoints[openpose.BODY, 2] > self.config.confidence_threshold).sum())
            if seen < self.config.min_body_keypoints:
                reason = f"{seen} confident body keypoints, need {self.config.min_body_keypoints}"
                log.info("%s person %d skipped: %s", item.stem, index, reason)
                record["people"].append({"index": index, "status": "skipped", "reason": reason})
                continue
            targets = person_targets(keypoints, intrinsics, height, self.config, self.device, self.dtype)
            prepared.jobs.append(PersonJob(prepared, index, keypoints, targets))
        if not prepared.jobs:
            self._finish(prepared, on_image_done)
            return None
        return prepared

    def _fit_batch(self, jobs: list[PersonJob], on_image_done) -> None:
        start = time.perf_counter()
        try:
            result = self.fitter.fit(Targets.cat([job.targets for job in jobs]))
            with torch.no_grad():
                output = self.model(result.params)
        except Exception as error:  # a bug must not stop a run over thousands of images
            log.exception("internal error fitting a batch of %d people", len(jobs))
            for job in jobs:
                job.image.record["people"].append({"index": job.index, "status": "failed",
                                                   "reason": f"internal error: {error!r}"})
                self._person_done(job, on_image_done)
            return
        seconds = (time.perf_counter() - start) / len(jobs)
        for row, job in enumerate(jobs):
            self._save_person(job, result, output, row, seconds)
            self._person_done(job, on_image_done)

    def _person_done(self, job: PersonJob, on_image_done) -> None:
        job.image.finished += 1
        if job.image.finished == len(job.image.jobs):
            self._finish(job.image, on_image_done)

    def _finish(self, prepared: PreparedImage, on_image_done) -> None:
        record = prepared.record
        fitted = [p for p in record["people"] if p["status"] == "ok"]
        if not record["people"] and not prepared.jobs:
            record.update(status="skipped", reason="nobody in the keypoint file")
        elif not fitted:
            failed = [p for p in record["people"] if p["status"] == "failed"]
            record.update(status="failed" if failed else "skipped",
                          reason=failed[0]["reason"] if failed else "no person with enough confident body keypoints")
        else:
            record["status"] = "ok"
        record["people"].sort(key=lambda p: p["index"])
        if fitted and self.options.overlay:
            meshes = [prepared.meshes[p["index"]] for p in fitted]
            overlay = outputs.render_overlay(prepared.pixels, meshes, self.model.faces,
                                             prepared.intrinsics.as_tensor().numpy())
            write_png(self.options.output / "images" / f"{prepared.item.stem}.png", overlay)
        self._write_record(prepared.item, record, prepared.started, on_image_done)

    def _write_record(self, item: ImageItem, record: dict, started: float, on_image_done) -> None:
        record["time_s"] = time.perf_counter() - started
        outputs.write_json(self.record_path(item.stem), record)
        if on_image_done is not None:
            on_image_done(item, record)

    def _save_person(self, job: PersonJob, result: FitResult, output, row: int, seconds: float) -> None:
        stem, index, keypoints, intrinsics = job.image.item.stem, job.index, job.keypoints, job.image.intrinsics
        projected = project(output.keypoints[row:row + 1], job.targets.intrinsics)[0].cpu().numpy()
        error = reprojection_error(projected[openpose.BODY], keypoints[openpose.BODY, :2],
                                   keypoints[openpose.BODY, 2], self.config.confidence_threshold)
        params = {name: value[row].cpu().numpy() for name, value in result.params.as_dict().items()}
        vertices = output.vertices[row].cpu().numpy()
        loss, turned = float(result.loss[row]), bool(result.flipped[row])
        arrays = {
            **params,
            "focal_length": np.array([intrinsics.fx, intrinsics.fy]),
            "camera_center": np.array([intrinsics.cx, intrinsics.cy]),
            "camera_rotation": np.eye(3), "camera_translation": np.zeros(3),
            "vertices": vertices, "joints": output.joints[row].cpu().numpy(),
            "keypoints_3d": output.keypoints[row, openpose.BODY].cpu().numpy(),
            "keypoints_2d": projected,
            "gender": np.array(self.model.gender), "model_type": np.array(self.model.model_type),
            "loss": np.array(loss), "reprojection_error_px": np.array(error),
            "turned": np.array(turned), "time_s": np.array(seconds),
        }
        record = {"index": index, "status": "ok", "loss": loss, "reprojection_error_px": error, "turned": turned,
                  "time_s": seconds}
        collision = self.fitter.collision
        if collision is not None:  # the fit used the collision term: report what is left
            pairs = find_collisions(output.vertices[row:row + 1], collision.rules, collision.config.cell_size)
            arrays["intersecting_pairs"] = np.array(len(pairs))
            record["intersecting_pairs"] = len(pairs)
        outputs.write_npz(self.options.output / "results" / stem / f"{index:03d}.npz", arrays)
        outputs.write_obj(self.options.output / "meshes" / stem / f"{index:03d}.obj", vertices, self.model.faces)
        job.image.record["people"].append(record)
        job.image.meshes[index] = vertices



