"""The quality figures of a batch of fits, each with its threshold and flag.

``QualityAssessor`` holds what one body model's figures need (the mean shape's bone lengths,
the collision part rules, the VPoser that scores poses) and turns a ``FitBatch`` into one
dict per person: ``{name: {"value": float, "threshold": float, "flag": bool}}``, the shape
written to ``image.json`` and the dataset index. The figures (``quality.figures``):

- ``error_2d``: median distance of the fit's projected body keypoints to the confident
  observed ones, over the longer side of their box (a share of the person's 2D size).
- ``prior``: squared norm of VPoser's latent (posterior mean) for the fitted body pose,
  whichever prior the fit used (so one threshold holds for every schedule).
- ``shape``: norm of the betas.
- ``intersections``: intersecting triangle pairs (parts that touch naturally excluded).
- ``depth``: factor between the body's depth and the depth its seen bones' 2D lengths imply
  for the mean shape (``figures.implied_depth``).
- ``distance``: the body's depth (m); flagged outside [``min_depth_m``, ``max_depth_m``]
  (the threshold written is ``max_depth_m``).
- ``limbs``: the largest factor between a limb's length and the mean shape's.
- ``behind_camera``: the nearest vertex's depth (m); flagged when *below* the threshold.
- ``disagreement``: mean geodesic angle (degrees) of the 21 body joints between the fit and
  the regressor's prediction; only for fits started from the regressor.

Shapes: B people, K keypoints, V vertices, J skeleton joints.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

from bodyfit.bodymodels.layer import BodyModel, BodyParams
from bodyfit.collision.config import CollisionConfig
from bodyfit.collision.term import model_pair_rules
from bodyfit.fileio.keypoint_layout import BODY
from bodyfit.priors.body_pose import BodyPosePrior
from bodyfit.priors.vposer_prior import make_vposer_prior
from bodyfit.quality import figures
from bodyfit.quality.config import QualityConfig

FIGURES = ("error_2d", "prior", "shape", "intersections", "depth", "distance", "limbs", "behind_camera",
           "disagreement")
# Figures flagged when the value is *below* the threshold; the others when above.
FLAGGED_BELOW = ("behind_camera",)

Quality = dict[str, dict[str, float | bool]]


@dataclass
class FitBatch:
    """A batch of fits and what they were fitted to: ``params`` (B, ...), ``vertices``
    (B, V, 3), ``joints`` (B, J, 3), ``keypoints_3d`` (B, K, 3) camera frame, metres;
    ``projected`` (B, K, 2) their projection; the observed ``keypoints`` (B, K, 2) and
    ``confidence`` (B, K) (zero: unseen or unusable), ``intrinsics`` (B, 4) fx, fy, cx, cy;
    ``anchor`` (B, 21, 3, 3) the regressor's body rotations when the fit started from it."""

    params: BodyParams
    vertices: torch.Tensor
    joints: torch.Tensor
    keypoints_3d: torch.Tensor
    projected: torch.Tensor
    keypoints: torch.Tensor
    confidence: torch.Tensor
    intrinsics: torch.Tensor
    anchor: torch.Tensor | None = None


@functools.lru_cache(maxsize=4)
def scoring_prior(vposer: str, device: str) -> BodyPosePrior:
    """The VPoser prior (``default``: the shipped one, or a checkpoint path) that scores poses,
    loaded once per (checkpoint, device)."""
    return make_vposer_prior(vposer).to(device)


class QualityAssessor:
    """Quality figures of ``model``'s fits under ``config``; ``collision`` the part rules'
    settings (the fit config's, so that the count matches the collision term's)."""

    def __init__(self, model: BodyModel, config: QualityConfig, collision: CollisionConfig | None = None) -> None:
        self.config = config
        self.collision = collision or CollisionConfig()
        with torch.no_grad():
            rest = model(model.zero_params(1))
        self.reference_joints = rest.joints[0]  # (J, 3) the mean shape at rest
        rest_body = rest.keypoints[0, BODY]  # (25, 3)
        first, second = zip(*figures.DEPTH_BONES)
        self.reference_bones = (rest_body[list(first)] - rest_body[list(second)]).norm(dim=-1)  # (E,)
        self.rules = model_pair_rules(model, self.collision) if config.check_intersections else None
        self.prior = scoring_prior(config.vposer, str(model.smpl.v_template.device))

    @torch.no_grad()
    def values(self, batch: FitBatch) -> dict[str, torch.Tensor]:
        """Each figure's (B,) values (``FIGURES`` order; ``disagreement`` only with an anchor,
        ``intersections`` only when checked)."""
        body = batch.keypoints[:, BODY]
        confident = batch.confidence[:, BODY] > self.config.confidence_min
        error = figures.error_2d_px(batch.projected[:, BODY], body, confident)
        depth = figures.body_depth(batch.keypoints_3d[:, BODY], confident)
        focal = batch.intrinsics[:, :2].mean(dim=1)
        implied = figures.implied_depth(body, confident, focal, self.reference_bones.to(body))
        values = {
            "error_2d": error / figures.box_size(body, confident),
            "prior": figures.prior_energy(self.prior, batch.params.body_pose.to(self._prior_dtype())).to(error),
            "shape": figures.shape_norm(batch.params.betas),
            "depth": figures.symmetric_factor(depth, implied),
            "distance": depth,
            "limbs": figures.limb_factor(batch.joints, self.reference_joints.to(batch.joints)),
            "behind_camera": figures.nearest_depth(batch.vertices),
        }
        if self.rules is not None:
            values["intersections"] = figures.intersecting_pairs(batch.vertices, self.rules, self.collision.cell_size)
        if batch.anchor is not None:
            values["disagreement"] = figures.rotation_disagreement_deg(batch.params.body_pose, batch.anchor)
        return {name: values[name] for name in FIGURES if name in values}

    def _prior_dtype(self) -> torch.dtype:
        return next(self.prior.parameters()).dtype

    def threshold(self, name: str) -> float:
        """The threshold a figure is flagged against (``threshold_of``)."""
        return threshold_of(name, self.config)

    def flags(self, name: str, values: torch.Tensor) -> torch.Tensor:
        """(B,) whether ``values`` (B,) of figure ``name`` are flagged (``flag_values``)."""
        return flag_values(name, values, self.config)

    def assess(self, batch: FitBatch) -> list[Quality]:
        """One dict per person: ``{name: {"value", "threshold", "flag"}}``."""
        people: list[Quality] = [{} for _ in range(len(batch.vertices))]
        for name, values in self.values(batch).items():
            flags = self.flags(name, values).tolist()
            threshold = self.threshold(name)
            for person, value, flag in zip(people, values.tolist(), flags):
                person[name] = {"value": float(value), "threshold": threshold, "flag": bool(flag)}
        return people


def threshold_of(name: str, config: QualityConfig) -> float:
    """The threshold figure ``name`` is flagged against (for ``distance``, its upper bound)."""
    names = {"disagreement": "disagreement_deg", "distance": "max_depth_m", "behind_camera": "behind_camera_m"}
    if name not in FIGURES:
        raise ValueError(f"unknown quality figure {name!r}; known: {list(FIGURES)}")
    return float(getattr(config, names.get(name, name)))


def flag_values(name: str, values: torch.Tensor, config: QualityConfig) -> torch.Tensor:
    """(B,) whether ``values`` (B,) of figure ``name`` are flagged under ``config``: above the
    threshold, below it for ``FLAGGED_BELOW``, outside [min, max] for ``distance``; never where
    NaN."""
    if name == "distance":
        return (values < config.min_depth_m) | (values > config.max_depth_m)
    if name in FLAGGED_BELOW:
        return values < threshold_of(name, config)
    return values > threshold_of(name, config)


def flagged(quality: Quality) -> list[str]:
    """The names of the flagged figures of one person's ``quality``, in ``FIGURES`` order."""
    return [name for name in FIGURES if name in quality and quality[name]["flag"]]


def json_ready(quality: Quality) -> Quality:
    """``quality`` with NaN and infinite values as None (JSON has no such numbers)."""
    return {name: {**entry, "value": entry["value"] if math.isfinite(entry["value"]) else None}
            for name, entry in quality.items()}
