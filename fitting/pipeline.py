"""Fitting a folder: per image, read the image and its keypoints, fit every person, write
the results; one bad image is recorded and the run goes on.

Shapes: K keypoints.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from bodymodels import openpose
from bodymodels.layer import BodyModel
from fitting import outputs
from fitting.camera import Intrinsics, project, resolve_intrinsics
from fitting.config import FitConfig
from fitting.fitter import Fitter
from fitting.keypoints import ImageItem, KeypointFileError, read_openpose
from fitting.metrics import reprojection_error
from fitting.objective import Targets

log = logging.getLogger("bodyfit")


class ImageError(ValueError):
    """An image that cannot be used; the message names the file."""


@dataclass
class RunOptions:
    output: Path
    focal_length: str | float = "auto"
    max_people: int | None = None
    overlay: bool = True
    overwrite: bool = False


def read_image(path: Path) -> np.ndarray:
    """RGB uint8 (H, W, 3); ``ImageError`` if the file cannot be decoded."""
    data = np.fromfile(str(path), dtype=np.uint8) if path.is_file() else np.zeros(0, np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise ImageError(f"{path}: cannot read the image (missing, corrupt or not an image)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def person_targets(keypoints: np.ndarray, intrinsics: Intrinsics, height: int, config: FitConfig,
                   device: torch.device, dtype: torch.dtype) -> Targets:
    """Targets of one person from (K, 3) keypoints in bodyfit's layout."""
    observed = torch.as_tensor(keypoints, dtype=dtype, device=device)[None]
    confidence = observed[..., 2] * (observed[..., 2] > config.confidence_threshold)
    return Targets(observed[..., :2], confidence, intrinsics.as_tensor().to(device, dtype)[None],
                   torch.tensor([config.data_weight_scale / height], dtype=dtype, device=device))


class ImageFitter:
    """Fits the people of single images and writes their results."""

    def __init__(self, model: BodyModel, fitter: Fitter, config: FitConfig, options: RunOptions) -> None:
        self.model, self.fitter, self.config, self.options = model, fitter, config, options
        self.device = model.smpl.v_template.device
        self.dtype = model.smpl.v_template.dtype

    def record_path(self, stem: str) -> Path:
        return self.options.output / "results" / stem / "image.json"

    def is_done(self, stem: str) -> bool:
        return not self.options.overwrite and self.record_path(stem).is_file()

    def process(self, item: ImageItem) -> dict[str, Any]:
        """Fits one image; returns (and writes) its record. Never raises for bad input."""
        start = time.perf_counter()
        record: dict[str, Any] = {"image": str(item.image), "people": []}
        try:
            image = read_image(item.image)
            if item.keypoints is None:
                raise KeypointFileError(f"{item.image}: no keypoint file {item.stem}_keypoints.json")
            people = read_openpose(item.keypoints, allow_empty=True)
            height, width = image.shape[:2]
            intrinsics = resolve_intrinsics(item.image, width, height, self.options.focal_length)
            record["intrinsics"] = {"fx": intrinsics.fx, "fy": intrinsics.fy, "cx": intrinsics.cx,
                                    "cy": intrinsics.cy, "source": intrinsics.source}
            if not people:
                record.update(status="skipped", reason="nobody in the keypoint file")
            else:
                meshes = self._fit_people(item, people, intrinsics, height, record)
                fitted = [p for p in record["people"] if p["status"] == "ok"]
                record["status"] = "ok" if fitted else "skipped"
                if not fitted:
                    record["reason"] = "no person with enough confident body keypoints"
                if self.options.overlay:
                    overlay = outputs.render_overlay(image, meshes, self.model.faces,
                                                     intrinsics.as_tensor().numpy())
                    outputs.write_png(self.options.output / "images" / f"{item.stem}.png", overlay)
        except (ImageError, KeypointFileError, ValueError) as error:
            record.update(status="failed", reason=str(error))
            log.warning("%s: failed: %s", item.stem, error)
        except Exception as error:  # a bug must not stop a run over thousands of images
            record.update(status="failed", reason=f"internal error: {error!r}")
            log.exception("%s: internal error", item.stem)
        record["time_s"] = time.perf_counter() - start
        outputs.write_json(self.record_path(item.stem), record)
        return record

    def _fit_people(self, item, people, intrinsics, height, record) -> list[np.ndarray]:
        meshes = []
        for index, person in enumerate(people[: self.options.max_people]):
            keypoints = person.to_layout(self.model.use_face_contour)
            seen = int((keypoints[openpose.BODY, 2] > self.config.confidence_threshold).sum())
            if seen < self.config.min_body_keypoints:
                reason = f"{seen} confident body keypoints, need {self.config.min_body_keypoints}"
                log.info("%s person %d skipped: %s", item.stem, index, reason)
                record["people"].append({"index": index, "status": "skipped", "reason": reason})
                continue
            start = time.perf_counter()
            targets = person_targets(keypoints, intrinsics, height, self.config, self.device, self.dtype)
            result = self.fitter.fit(targets)
            vertices = self._save_person(item.stem, index, result, targets, keypoints, intrinsics,
                                         time.perf_counter() - start, record)
            meshes.append(vertices)
        return meshes

    def _save_person(self, stem, index, result, targets, keypoints, intrinsics, seconds, record) -> np.ndarray:
        with torch.no_grad():
            output = self.model(result.params)
        projected = project(output.keypoints, targets.intrinsics)[0].cpu().numpy()
        error = reprojection_error(projected[openpose.BODY], keypoints[openpose.BODY, :2],
                                   keypoints[openpose.BODY, 2], self.config.confidence_threshold)
        params = {name: value[0].cpu().numpy() for name, value in result.params.as_dict().items()}
        vertices = output.vertices[0].cpu().numpy()
        arrays = {
            **params,
            "focal_length": np.array([intrinsics.fx, intrinsics.fy]),
            "camera_center": np.array([intrinsics.cx, intrinsics.cy]),
            "camera_rotation": np.eye(3), "camera_translation": np.zeros(3),
            "vertices": vertices, "joints": output.joints[0].cpu().numpy(),
            "keypoints_3d": output.keypoints[0, openpose.BODY].cpu().numpy(),
            "keypoints_2d": projected,
            "gender": np.array(self.model.gender), "model_type": np.array(self.model.model_type),
            "loss": np.array(float(result.loss[0])), "reprojection_error_px": np.array(error),
            "turned": np.array(bool(result.flipped[0])), "time_s": np.array(seconds),
        }
        outputs.write_npz(self.options.output / "results" / stem / f"{index:03d}.npz", arrays)
        outputs.write_obj(self.options.output / "meshes" / stem / f"{index:03d}.obj", vertices, self.model.faces)
        record["people"].append({"index": index, "status": "ok", "loss": float(result.loss[0]),
                                 "reprojection_error_px": error, "turned": bool(result.flipped[0]),
                                 "time_s": seconds})
        return vertices
