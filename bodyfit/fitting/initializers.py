"""Where fits start: initialisers are named parts chosen by ``init`` in the fitting config.

An initialiser turns a batch of targets (and any initial parameters the tasks carry) into
*starts*: one or more starting points per person, each fitted as its own problem; the fitter
keeps each person's lowest-loss fit.

- ``rest`` (SMPLify-X): the rest pose and mean shape facing the camera, translation by
  similar triangles on the torso; side views (shoulders closer than ``flip_shoulder_px``)
  also start turned by 180 degrees about the vertical axis.
- ``regressor`` (SPIN): the learned regressor's pose, shape and camera
  (``fitting.regressor_init``), the fit held near its pose by the stages' ``anchor`` term.
- A person whose task carries initial parameters starts from them (the pose through the
  prior's encoder; a missing translation by similar triangles from that pose); with a
  carried ``global_orient`` it starts once, without the turned start.

Shapes: B people, S starts, K keypoints.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import torch

from bodyfit.bodymodels.layer import BodyModel
from bodyfit.fileio.keypoint_layout import OPENPOSE
from bodyfit.fitting.camera import least_squares_translation, similar_triangles_translation
from bodyfit.fitting.config import FitConfig
from bodyfit.fitting.objective import Targets, Variables
from bodyfit.priors.body_pose import BodyPosePrior

# Model (Y up, facing +z) to OpenCV camera (Y down, facing the camera): 180 degrees about x.
FACING_CAMERA = (math.pi, 0.0, 0.0)
# The same body turned 180 degrees about its vertical axis (back to the camera).
FACING_AWAY = (0.0, 0.0, math.pi)
TORSO_EDGES = (("RShoulder", "RHip"), ("LShoulder", "LHip"))
SHOULDER_EDGES = (("RShoulder", "LShoulder"),)  # when no torso edge is seen

# Parameters a task may carry, each (D,): Variables field <- params name.
_CARRIED = {"betas": "betas", "expression": "expression", "global_orient": "global_orient", "transl": "transl",
            "left_hand_pose": "left_hand_pose", "right_hand_pose": "right_hand_pose", "jaw_pose": "jaw_pose"}

InitialParams = dict[str, np.ndarray]


@dataclass
class Starts:
    """``rows`` (S,) the person each start belongs to, ``variables`` (S, ...) where it starts,
    ``turned`` (S,) whether it is the 180-degree turned start of a side view; ``anchor``
    (S, 21, 3, 3), when set, the body pose the fit is held near (``Targets.anchor``)."""

    rows: torch.Tensor
    variables: Variables
    turned: torch.Tensor
    anchor: torch.Tensor | None = None

    @staticmethod
    def cat(parts: list["Starts"]) -> "Starts":
        anchors = [part.anchor for part in parts]
        if any(a is None for a in anchors) and not all(a is None for a in anchors):
            raise ValueError("starts of one batch either all carry an anchor or none does")
        anchor = None if anchors[0] is None else torch.cat(anchors)
        variables = Variables(*(torch.cat([getattr(part.variables, f.name) for part in parts])
                                for f in fields(Variables)))
        return Starts(torch.cat([p.rows for p in parts]), variables, torch.cat([p.turned for p in parts]), anchor)


def needs_flip(targets: Targets, config: FitConfig) -> torch.Tensor:
    """(B,) side views: both shoulders seen and closer than the threshold in 2D."""
    right, left = OPENPOSE["RShoulder"], OPENPOSE["LShoulder"]
    seen = (targets.confidence[:, right] > 0) & (targets.confidence[:, left] > 0)
    distance = (targets.keypoints[:, right] - targets.keypoints[:, left]).norm(dim=-1)
    return seen & (distance < config.camera.flip_shoulder_px)


def _orientations(model: BodyModel, orientation: Sequence[float], count: int) -> torch.Tensor:
    ref = model.smpl.v_template
    return torch.tensor(orientation, dtype=ref.dtype, device=ref.device).expand(count, 3).clone()


def place_translation(model: BodyModel, prior: BodyPosePrior, config: FitConfig, variables: Variables,
                      targets: Targets) -> torch.Tensor:
    """(B, 3) translation that puts the body of ``variables`` (its pose, shape and
    orientation) on the observed torso: similar triangles on the torso edges (the shoulders
    alone when no torso edge is seen) or, with ``translation_init: least_squares``, SPIN's
    weighted least squares on the camera stage's keypoints (similar triangles where that
    cannot be solved)."""
    with torch.no_grad():
        _, points = model.keypoints(variables.to_params(prior))
    seen = targets.confidence > 0
    torso = [(OPENPOSE[a], OPENPOSE[b]) for a, b in TORSO_EDGES]
    shoulders = [(OPENPOSE[a], OPENPOSE[b]) for a, b in SHOULDER_EDGES]
    has_torso = torch.stack([seen[:, a] & seen[:, b] for a, b in torso], 1).any(1)
    by_torso = similar_triangles_translation(points, targets.keypoints, seen, torso, targets.intrinsics)
    by_shoulders = similar_triangles_translation(points, targets.keypoints, seen, shoulders, targets.intrinsics)
    translation = torch.where(has_torso[:, None], by_torso, by_shoulders)
    if config.translation_init == "least_squares":
        torso_points = torch.zeros_like(targets.confidence)
        torso_points[:, [OPENPOSE[name] for name in config.camera.keypoints]] = 1.0
        translation = least_squares_translation(points, targets.keypoints, targets.confidence * torso_points,
                                                targets.intrinsics, translation)
    return translation


def carry_initial(variables: Variables, prior: BodyPosePrior, row: int, initial: InitialParams) -> bool:
    """Writes ``initial`` into row ``row`` of ``variables``; whether it carried a translation."""
    for name, field in _CARRIED.items():
        if name in initial:
            target = getattr(variables, field)
            value = torch.as_tensor(np.asarray(initial[name]), dtype=target.dtype, device=target.device)
            width = min(len(value), target.shape[1])  # betas / expression: cut to the model's
            target[row, :width] = value[:width]
    if "body_pose" in initial:
        pose = torch.as_tensor(np.asarray(initial["body_pose"]), dtype=variables.latent.dtype,
                               device=variables.latent.device).reshape(1, 63)
        with torch.no_grad():
            variables.latent[row] = prior.encode(pose)[0]
    return "transl" in initial


def rest_variables(model: BodyModel, prior: BodyPosePrior, config: FitConfig, targets: Targets,
                   orientation: Sequence[float] | torch.Tensor,
                   initial: Sequence[InitialParams | None] | None = None) -> Variables:
    """Rest pose, mean shape, ``orientation`` ((B, 3) or one (3,) for all), the parameters
    ``initial`` carries per row written over them, and the translation that puts the body on
    the observed torso (``place_translation``) where ``initial`` gives none."""
    batch = targets.keypoints.shape[0]
    variables = Variables.initial(model, prior, batch)
    if not torch.is_tensor(orientation):
        orientation = _orientations(model, orientation, batch)
    variables.global_orient = orientation.to(variables.global_orient).clone()
    has_translation = torch.zeros(batch, dtype=torch.bool, device=variables.transl.device)
    for row, params in enumerate(initial or []):
        if params is not None:
            has_translation[row] = carry_initial(variables, prior, row, params)
    placed = place_translation(model, prior, config, variables, targets)
    variables.transl = torch.where(has_translation[:, None], variables.transl, placed)
    return variables


def rest_starts(model: BodyModel, prior: BodyPosePrior, config: FitConfig, targets: Targets,
                initial: Sequence[InitialParams | None]) -> Starts:
    """The ``rest`` initialiser (see the module docstring): every person facing the camera
    (or from the parameters their task carries), then the side views turned (but not those
    whose task carries an orientation). ``targets`` of B people; ``initial`` one entry each."""
    batch = targets.keypoints.shape[0]
    carried = torch.tensor([params is not None and "global_orient" in params for params in initial],
                           dtype=torch.bool, device=targets.keypoints.device)
    flip_rows = (needs_flip(targets, config) & ~carried).nonzero().squeeze(1)
    rows = torch.cat([torch.arange(batch, device=flip_rows.device), flip_rows])
    orientation = torch.cat([_orientations(model, FACING_CAMERA, batch), _orientations(model, FACING_AWAY, len(flip_rows))])
    variables = rest_variables(model, prior, config, targets.index(rows), orientation,
                               [initial[row] for row in rows.tolist()])
    turned = torch.arange(len(rows), device=rows.device) >= batch
    return Starts(rows, variables, turned)
