"""The fitting objective: the variables being optimised, the 2D targets, and each stage's
weighted sum of per-sample terms (every weight squared, as in SMPLify-X, except the
collision weight, linear as there).

Shapes: B batch, K keypoints, Z body-pose latent.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, fields

import torch

from bodyfit.fileio import keypoint_layout
from bodyfit.bodymodels.layer import BodyModel, BodyParams
from bodyfit.collision.term import SelfCollision
from bodyfit.fitting.config import FitConfig, StageConfig
from bodyfit.fitting.losses import depth_term, front_term, reprojection_term
from bodyfit.geometry import project
from bodyfit.priors.body_pose import BodyPosePrior
from bodyfit.priors.simple import axis_weighted_squared_norm, bending_prior_from_rotations, squared_norm


@dataclass
class Targets:
    """What one batch is fitted to: ``keypoints`` (B, K, 2) pixels, ``confidence`` (B, K)
    (zero for ignored or missing points), ``intrinsics`` (B, 4) fx, fy, cx, cy,
    ``data_weight`` (B,) = data_weight_scale / image height, and, once the translation is
    initialised, ``initial_depth`` (B,) that the camera stage anchors t_z to; ``ids`` (B,)
    numbers the problems so that per-problem state (collision pairs) follows a row when the
    optimiser evaluates a subset; ``anchor`` (B, 21, 3, 3), when set, is the body pose the
    stages' ``anchor`` term holds the fit near (the regressor's prediction)."""

    keypoints: torch.Tensor
    confidence: torch.Tensor
    intrinsics: torch.Tensor
    data_weight: torch.Tensor
    initial_depth: torch.Tensor | None = None
    ids: torch.Tensor | None = None
    anchor: torch.Tensor | None = None

    def index(self, rows: torch.Tensor) -> "Targets":
        return Targets(*(None if getattr(self, f.name) is None else getattr(self, f.name)[rows]
                         for f in fields(self)))

    @staticmethod
    def cat(parts: list["Targets"]) -> "Targets":
        return Targets(*(None if getattr(parts[0], f.name) is None else torch.cat([getattr(p, f.name) for p in parts])
                         for f in fields(Targets)))


@dataclass
class Variables:
    """The optimised tensors, each (B, D); ``latent`` is the body-pose prior's variable."""

    latent: torch.Tensor
    betas: torch.Tensor
    expression: torch.Tensor
    global_orient: torch.Tensor
    transl: torch.Tensor
    left_hand_pose: torch.Tensor
    right_hand_pose: torch.Tensor
    jaw_pose: torch.Tensor

    @staticmethod
    def initial(model: BodyModel, prior: BodyPosePrior, batch_size: int) -> "Variables":
        zero = model.zero_params(batch_size)
        latent = prior.initial_latent(batch_size, zero.betas.device, zero.betas.dtype)
        return Variables(latent, zero.betas, zero.expression, zero.global_orient, zero.transl,
                         zero.left_hand_pose, zero.right_hand_pose, zero.jaw_pose)

    def tensor(self, free_name: str) -> torch.Tensor:
        """The tensor a config's free-variable name refers to (body_pose is the latent)."""
        return self.latent if free_name == "body_pose" else getattr(self, free_name)

    def pack(self, names: tuple[str, ...] | list[str]) -> torch.Tensor:
        """(B, P) the named free variables side by side (``body_pose`` is the latent)."""
        return torch.cat([self.tensor(name) for name in names], dim=1)

    def unpack(self, names: tuple[str, ...] | list[str], flat: torch.Tensor) -> "Variables":
        """A copy with the named variables taken from ``flat`` (B, P), the rest shared."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        start = 0
        for name in names:
            key = "latent" if name == "body_pose" else name
            width = values[key].shape[1]
            values[key] = flat[:, start:start + width]
            start += width
        return Variables(**values)

    def index(self, rows: torch.Tensor) -> "Variables":
        return Variables(*(getattr(self, f.name)[rows] for f in fields(self)))

    def to_params(self, prior: BodyPosePrior, decode: bool = True) -> BodyParams:
        """The body-model parameters; with ``decode=False`` the body pose is left at zero for
        a caller that passes the prior's rotations to the model itself."""
        zeros = torch.zeros_like(self.global_orient)
        body_pose = prior.decode(self.latent) if decode else zeros.new_zeros(len(zeros), 63)
        return BodyParams(self.betas, self.expression, self.global_orient, body_pose,
                          self.left_hand_pose, self.right_hand_pose, self.jaw_pose, zeros, zeros.clone(),
                          self.transl)


@functools.lru_cache(maxsize=64)
def keypoint_part_weights(num_keypoints: int, stage: StageConfig, config: FitConfig) -> torch.Tensor:
    """(K,) per-keypoint weight: body 1 (ignored points 0), hands and face from the stage.
    Cached: the objective asks for it at every evaluation."""
    weights = torch.ones(num_keypoints)
    for name in config.ignored_keypoints:
        weights[keypoint_layout.OPENPOSE[name]] = 0.0
    weights[keypoint_layout.LEFT_HAND] = stage.hand_keypoints
    weights[keypoint_layout.RIGHT_HAND] = stage.hand_keypoints
    weights[keypoint_layout.FACE.start:] = stage.face_keypoints
    return weights


@functools.lru_cache(maxsize=16)
def camera_keypoint_weights(num_keypoints: int, config: FitConfig) -> torch.Tensor:
    """(K,) 1 at the camera stage's torso keypoints, 0 elsewhere. Cached."""
    torso = torch.zeros(num_keypoints)
    torso[[keypoint_layout.OPENPOSE[name] for name in config.camera.keypoints]] = 1.0
    return torso


def weighted_projection(model: BodyModel, prior: BodyPosePrior, variables: Variables, targets: Targets,
                        part: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The body rotations (B, 21, 3, 3) the prior decodes, the keypoints (B, K, 3) that
    ``part`` (K,) weighs (only those are computed; the rest are zero), their projection
    (B, K, 2) and each keypoint's weight (B, K): its confidence times ``part`` (the image's
    data weight apart)."""
    rotations = prior.decode_rotations(variables.latent)
    part = part.to(rotations)
    keypoints = model.selected_keypoints(variables.to_params(prior, decode=False), part > 0, rotations)
    return rotations, keypoints, project(keypoints, targets.intrinsics), targets.confidence * part


def stage_terms(model: BodyModel, prior: BodyPosePrior, variables: Variables, targets: Targets,
                stage: StageConfig, config: FitConfig, collision: SelfCollision | None = None) -> dict[str, torch.Tensor]:
    """Per-sample (B,) weighted terms of one stage; ``total`` is their sum. The full mesh is
    computed only when the stage weighs the ``collision`` term; otherwise the keypoint-only
    forward serves."""
    part = keypoint_part_weights(model.num_keypoints, stage, config)
    front = config.front.weight > 0
    with_collision = collision is not None and stage.collision > 0
    if with_collision:
        rotations = prior.decode_rotations(variables.latent)  # (B, 21, 3, 3)
        vertices, keypoints = model.mesh_and_keypoints(variables.to_params(prior, decode=False), rotations)
        projected = project(keypoints, targets.intrinsics)
        weights = targets.confidence * part.to(rotations)
    else:  # only the keypoints this stage weighs: no fingers or face in the early stages
        rotations, keypoints, projected, weights = weighted_projection(model, prior, variables, targets, part)
    terms = {
        "data": targets.data_weight ** 2 * reprojection_term(projected, targets.keypoints, weights, config.rho),
        "body_pose": stage.body_pose ** 2 * prior.penalty(variables.latent),
        "bending": (config.bending_factor * stage.body_pose) ** 2 * bending_prior_from_rotations(rotations),
        "shape": stage.shape ** 2 * squared_norm(variables.betas),
    }
    if model.model_type != "smpl":
        hands = squared_norm(variables.left_hand_pose) + squared_norm(variables.right_hand_pose)
        terms["hand_pose"] = stage.hand_pose ** 2 * hands
    if model.model_type == "smplx":
        terms["expression"] = stage.expression ** 2 * squared_norm(variables.expression)
        jaw = torch.tensor(stage.jaw, dtype=rotations.dtype, device=rotations.device)
        terms["jaw"] = axis_weighted_squared_norm(variables.jaw_pose, jaw)
    if targets.anchor is not None and stage.anchor > 0:
        terms["anchor"] = stage.anchor ** 2 * (rotations - targets.anchor).pow(2).sum((1, 2, 3))
    if front:  # the body points the stage computes (all but the ignored ones, which lie between others)
        body = keypoints[:, keypoint_layout.BODY]  # (B, 25, 3), zero where not computed
        computed = (part[keypoint_layout.BODY] > 0).to(body)
        terms["front"] = config.front.weight ** 2 * front_term(body, config.front.min_depth, computed)
    if with_collision:
        terms["collision"] = stage.collision * collision(vertices, targets.ids)  # linear, as in SMPLify-X
    terms["total"] = sum(terms.values())
    return terms


def camera_terms(model: BodyModel, prior: BodyPosePrior, variables: Variables, targets: Targets,
                 initial_depth: torch.Tensor, config: FitConfig) -> dict[str, torch.Tensor]:
    """Per-sample terms of the camera stage: torso keypoints and the depth anchor."""
    torso = camera_keypoint_weights(model.num_keypoints, config)
    _, _, projected, weights = weighted_projection(model, prior, variables, targets, torso)
    terms = {
        "data": targets.data_weight ** 2 * reprojection_term(projected, targets.keypoints, weights, config.rho),
        "depth": config.camera.depth_weight ** 2 * depth_term(variables.transl[:, 2], initial_depth),
    }
    terms["total"] = terms["data"] + terms["depth"]
    return terms
