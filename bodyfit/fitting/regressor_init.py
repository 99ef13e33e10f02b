"""Fits started from the learned regressor (SPIN): ``init: regressor`` in the fitting config.

Each person starts from the regressor's global orientation, body pose and camera (turned
into a translation with the image's focal length); the shape starts from its betas when the
body model is the open model it was trained with (another model's shape space differs, so
its fits start from the mean shape). The regressor's body pose also becomes the fit's
anchor: the stages' ``anchor`` term holds the pose near it unless the keypoints insist.
Side views (shoulders close in 2D) also start turned by 180 degrees about the body's
vertical axis; with ``pose_starts: N`` the centres of N clusters of the motion corpus's
training poses also start, at the regressor's orientation and translation; with
``rest_starts`` SMPLify-X's rest-pose starts join. Every start of a person is held near the
same anchor, so their losses compare; the fitter keeps the lowest.

Shapes: B people, S starts.
"""
from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence

import numpy as np
import roma
import torch
from scipy.cluster.vq import kmeans2

from bodyfit.bodymodels.files import OPEN_MODEL_FOLDER
from bodyfit.bodymodels.layer import BodyModel
from bodyfit.bodymodels.joints import NUM_BODY_JOINTS
from bodyfit.fileio.keypoint_layout import BODY
from bodyfit.fitting.config import FitConfig
from bodyfit.fitting.initializers import InitialParams, Starts, carry_initial, needs_flip, rest_starts
from bodyfit.fitting.objective import Targets, Variables
from bodyfit.motion.corpus import load_corpus, mirror_body_pose
from bodyfit.priors.body_pose import BodyPosePrior
from bodyfit.regressor.checkpoint import load_regressor, resolve
from bodyfit.regressor.inputs import make_input
from bodyfit.regressor.model import Regressor, camera_translation

# 180 degrees about the body's own vertical (y) axis, applied in the model frame.
_TURN = torch.diag(torch.tensor([-1.0, 1.0, -1.0]))


@functools.lru_cache(maxsize=4)
def pose_cluster_centres(count: int, seed: int = 0) -> torch.Tensor:
    """(count, 21, 3, 3) rotations at the centres of ``count`` k-means clusters of the motion
    corpus's training poses (widened and mirrored; rotation matrices, projected back onto
    rotations)."""
    poses = np.concatenate([clip.poses for clip in load_corpus("train", widened=True)])
    poses = np.concatenate([poses, mirror_body_pose(poses)])[:, 3:]
    rotations = roma.rotvec_to_rotmat(torch.as_tensor(poses).reshape(-1, NUM_BODY_JOINTS, 3))
    centres, _ = kmeans2(rotations.flatten(1).numpy(), count, seed=seed, minit="++")
    return roma.special_procrustes(torch.as_tensor(centres, dtype=torch.float32).reshape(count, NUM_BODY_JOINTS, 3, 3))


@functools.lru_cache(maxsize=4)
def cached_regressor(path: str, device: str) -> Regressor:
    """The regressor of a checkpoint, loaded once per (file, device)."""
    return load_regressor(path, device)


def uses_open_model(model: BodyModel) -> bool:
    """Whether ``model`` is the shipped open neutral SMPL-X model, the regressor's shape space
    (the open male and female models have shape spaces of their own: their betas start at 0)."""
    return (model.model_type == "smplx" and model.gender == "neutral"
            and model.path.resolve().is_relative_to(OPEN_MODEL_FOLDER.resolve()))


@torch.no_grad()
def regress(regressor: Regressor, targets: Targets,
            crops: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rotations (B, 22, 3, 3) (global, then the body joints), betas (B, 10) and camera-frame
    translation (B, 3) the regressor predicts from the targets' BODY_25 keypoints (and the
    people's RGB ``crops`` (B, 3, S, S) for a regressor that reads images)."""
    device = next(regressor.parameters()).device
    keypoints, confidence = targets.keypoints[:, BODY].float(), targets.confidence[:, BODY].float()
    inputs = make_input(keypoints, confidence, targets.intrinsics.float()).to(device)
    if crops is not None:
        inputs = dataclasses.replace(inputs, image=crops.to(device))
    output = regressor(inputs)
    transl = camera_translation(output.camera, inputs.box, inputs.intrinsics)
    return output.rotations, output.betas, transl


def regressor_starts(model: BodyModel, prior: BodyPosePrior, config: FitConfig, targets: Targets,
                     initial: Sequence[InitialParams | None], regressor: Regressor | None = None,
                     crops: torch.Tensor | None = None) -> Starts:
    """Starts from the regressor (see the module docstring) for ``targets`` of B people;
    ``regressor`` (in eval mode) instead of the config's checkpoint, reading ``crops`` when it
    reads images."""
    if regressor is None:
        regressor = cached_regressor(str(resolve(config.regressor.checkpoint)), str(targets.keypoints.device))
    rotations, betas, transl = (x.to(targets.keypoints) for x in regress(regressor, targets, crops))
    batch = len(rotations)
    variables = Variables.initial(model, prior, batch)
    variables.latent = prior.encode(roma.rotmat_to_rotvec(rotations[:, 1:]).flatten(1)).detach()
    variables.global_orient = roma.rotmat_to_rotvec(rotations[:, 0])
    variables.transl = transl
    if uses_open_model(model):
        width = min(betas.shape[1], variables.betas.shape[1])
        variables.betas[:, :width] = betas[:, :width]
    anchor = rotations[:, 1:]
    carried = torch.zeros(batch, dtype=torch.bool, device=rotations.device)
    for row, params in enumerate(initial):
        if params is not None:
            carry_initial(variables, prior, row, params)
            carried[row] = "global_orient" in params
    rows = torch.arange(batch, device=rotations.device)
    parts = [Starts(rows, variables, torch.zeros(batch, dtype=torch.bool, device=rows.device), anchor)]
    if config.regressor.turned_starts and not config.regress_only:
        flip = (needs_flip(targets, config) & ~carried).nonzero().squeeze(1)
        turned = variables.index(flip)
        turned.global_orient = roma.rotmat_to_rotvec(rotations[flip, 0] @ _TURN.to(rotations))
        parts.append(Starts(flip, turned, torch.ones(len(flip), dtype=torch.bool, device=rows.device), anchor[flip]))
    if config.regressor.pose_starts and not config.regress_only:
        centres = pose_cluster_centres(config.regressor.pose_starts).to(rotations)
        for centre in centres:
            start = variables.index(rows)
            start.latent = prior.encode(roma.rotmat_to_rotvec(centre).flatten()[None].expand(batch, -1)).detach()
            parts.append(Starts(rows, start, torch.zeros(batch, dtype=torch.bool, device=rows.device), anchor))
    if config.regressor.rest_starts and not config.regress_only:
        rest = rest_starts(model, prior, config, targets, initial)
        parts.append(Starts(rest.rows, rest.variables, rest.turned, anchor[rest.rows]))
    return Starts.cat(parts)
