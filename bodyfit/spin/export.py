"""The loop's stored fits as a dataset's pseudo-ground-truth: the output contract of every run
(``results/<stem>/<pid>.npz``, ``image.json``, meshes, overlays, ``summary.json``, the index
and the report, through ``pipeline.runner``) and one
file in the layout trainers read: mmhuman3d's HumanData (``pseudo_gt_humandata.npz``) for
SMPL-X and SMPL-H fits, SPIN's (``pseudo_gt_spin.npz``) for SMPL fits.

Shapes: N people with a valid fit.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bodyfit.bodymodels.joints import NUM_BODY_JOINTS
from bodyfit.fileio.atomic import write_npz
from bodyfit.fileio.openpose_json import ImageItem
from bodyfit.fitting.core import person_fits
from bodyfit.fitting.fitter import Fitter, FitResult
from bodyfit.fitting.tasks import ModelKey, PersonFit, PersonTask
from bodyfit.pipeline.prepare import prepare_image
from bodyfit.pipeline.results import ResultWriter
from bodyfit.pipeline.runner import RunOptions
from bodyfit.regressor.image_data import ImageSample
from bodyfit.regressor.inputs import keypoint_boxes
from bodyfit.spin.store import FitStore


@dataclass
class StoredFits:
    """The loop's stored fits as a run's fit strategy (``pipeline.runner``): every image's
    people in the output contract, the valid stored fits as ``ok``, the rest ``failed`` with
    the reason; the driver writes the summary, the index and the report. ``samples`` are the
    loop's people, row by row as in ``store``."""

    samples: list[ImageSample]
    store: FitStore
    fitter: Fitter
    key: ModelKey
    focal_length: str | float = "auto"
    resumes_per_image: bool = False  # the store is the truth: every image is written again

    def check(self, options: RunOptions) -> None:
        """Nothing to load: the fitter and its model are in hand."""

    def resolved(self) -> dict[str, Any]:
        return {"fit": self.fitter.config.to_dict()}

    def faces(self, key: ModelKey) -> Any:
        return self.fitter.model.faces

    def fit(self, items: list[ImageItem], writer: ResultWriter, options: RunOptions) -> dict[str, Any]:
        index = {(s.stem, s.person): row for row, s in enumerate(self.samples)}
        for item in items:
            prepared = prepare_image(item, self.fitter.config, self.key, self.focal_length, max_people=None)
            writer.expect(prepared, time.perf_counter())
            if not prepared.failed and prepared.tasks:
                writer.consume([self.person_fit(task, index.get((item.stem, task.person_index)))
                                for task in prepared.tasks])
        return {"source": "SPIN loop (bodyfit train-regressor --spin)"}

    def person_fit(self, task: PersonTask, row: int | None) -> PersonFit:
        """The stored fit of ``task`` (its ``row`` in the store), or why there is none."""
        if row is None or not self.store.valid[row]:
            reason = ("not in the loop's dataset" if row is None else
                      f"no fit under the loop's error limit (best: median 2D error "
                      f"{100 * self.store.error_share[row]:.1f} % of the box)")
            return PersonFit.failed(task, reason)
        reference = self.fitter.model.smpl.v_template
        intrinsics = torch.as_tensor(task.intrinsics[None], dtype=reference.dtype, device=reference.device)
        result = FitResult(self.store.to_params([row], self.fitter.model),
                           torch.tensor([float(self.store.data_term[row])]),
                           torch.zeros(1, dtype=torch.bool, device=reference.device))
        return person_fits(self.fitter, [task], intrinsics, result, 0.0)[0]


def write_dataset_file(samples: list[ImageSample], store: FitStore, fitter: Fitter, images_root: Path,
                       output: Path) -> Path:
    """The valid fits as one trainer-ready file: HumanData for SMPL-X / SMPL-H, SPIN's npz for
    SMPL. Image paths are relative to ``images_root``."""
    rows = [row for row in range(len(samples)) if store.valid[row]]
    chosen = [samples[row] for row in rows]
    keypoints = np.stack([s.keypoints for s in chosen]) if chosen else np.zeros((0, 25, 3))
    boxes = keypoint_boxes(torch.as_tensor(keypoints[..., :2]), torch.as_tensor(keypoints[..., 2])).numpy() \
        if chosen else np.zeros((0, 3))
    names = np.array([str(s.image.relative_to(images_root)) if s.image.is_relative_to(images_root) else s.image.name
                      for s in chosen])
    count = len(rows)
    if fitter.model.model_type == "smpl":
        pose = np.concatenate([store.global_orient[rows], store.body_pose[rows], np.zeros((count, 6))], axis=1)
        path = output / "pseudo_gt_spin.npz"
        write_npz(path, {"imgname": names, "center": boxes[:, :2], "scale": boxes[:, 2] / 200.0,
                         "openpose": keypoints, "part": np.zeros((count, 24, 3)), "pose": pose.astype(np.float32),
                         "shape": store.betas[rows], "has_smpl": np.ones(count), "transl": store.transl[rows]})
        return path
    corner = boxes[:, :2] - boxes[:, 2:] / 2
    bbox_xywh = np.concatenate([corner, boxes[:, 2:], boxes[:, 2:], np.ones((count, 1))], axis=1)
    body = {"global_orient": store.global_orient[rows], "body_pose": store.body_pose[rows].reshape(count, NUM_BODY_JOINTS, 3),
            "betas": store.betas[rows], "transl": store.transl[rows]}
    if fitter.model.model_type == "smplx":  # the loop fits the body: hands, face and eyes stay at rest
        body.update(left_hand_pose=np.zeros((count, 15, 3)), right_hand_pose=np.zeros((count, 15, 3)),
                    jaw_pose=np.zeros((count, 3)), leye_pose=np.zeros((count, 3)), reye_pose=np.zeros((count, 3)),
                    expression=np.zeros((count, 10)))
    key = fitter.model.model_type
    path = output / "pseudo_gt_humandata.npz"
    write_npz(path, {"image_path": names, "bbox_xywh": bbox_xywh, "keypoints2d_original": keypoints,
                     "keypoints2d_original_mask": np.ones(keypoints.shape[1]),
                     "config": np.array("bodyfit_spin"), key: np.array(body, dtype=object),
                     "meta": np.array({"gender": fitter.model.gender, "keypoint_convention": "openpose_25",
                                       "focal_length": np.stack([s.intrinsics[:2] for s in chosen]) if chosen else
                                       np.zeros((0, 2)),
                                       "principal_point": np.stack([s.intrinsics[2:] for s in chosen]) if chosen else
                                       np.zeros((0, 2))}, dtype=object),
                     "__data_len__": np.array(count)})
    return path
