"""Everything bodyfit reads from the ``anny`` package: phenotype sampling, a baked T-pose,
bone heads and the bone-to-SMPL-X-joint map.

anny is Z-up with the body facing -y and its left at +x; SMPL-X is Y-up, facing +z, left at
+x. ``ANNY_TO_SMPLX`` turns the first into the second (a rotation of -90 degrees about x).

Shapes: B samples, V vertices, N anny bones.
"""
from __future__ import annotations

import numpy as np
import torch

ANNY_TO_SMPLX = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])

PHENOTYPE_NAMES = ("gender", "age", "muscle", "weight", "height", "proportions")

# anny bone -> SMPL-X joint whose skinning weight it joins (".S" stands for both sides).
_SIDED_BONES = {
    "upperleg01": "hip", "upperleg02": "hip",
    "lowerleg01": "knee", "lowerleg02": "knee",
    "foot": "ankle",
    "clavicle": "collar", "shoulder01": "collar",
    "upperarm01": "shoulder", "upperarm02": "shoulder",
    "lowerarm01": "elbow", "lowerarm02": "elbow",
    "wrist": "wrist",
    "metacarpal1": "wrist", "metacarpal2": "wrist", "metacarpal3": "wrist",
    "metacarpal4": "wrist",
}
_FINGERS = {1: "thumb", 2: "index", 3: "middle", 4: "ring", 5: "pinky"}
_CENTRAL_BONES = {
    "root": "pelvis", "spine05": "pelvis", "pelvis.L": "pelvis", "pelvis.R": "pelvis",
    "spine04": "spine1", "spine03": "spine1",
    "spine02": "spine2",
    "spine01": "spine3",
    "neck01": "neck", "neck02": "neck", "neck03": "neck",
    "head": "head",
    "eye.L": "left_eye_smplhf", "eye.R": "right_eye_smplhf",
}
# SMPL-X joint -> anny bones whose heads, averaged, give the joint's centre of rotation.
# The jaw has no anny bone: its centre is the mid-point of the ears (the jaw hinge sits just
# in front of the ear canal), see ``joint_centres``.
_SIDED_PIVOTS = {
    "hip": ["upperleg01"], "knee": ["lowerleg01"], "ankle": ["foot"],
    "foot": [f"toe{k}-1" for k in range(1, 6)],
    "collar": ["clavicle"], "shoulder": ["upperarm01"], "elbow": ["lowerarm01"],
    "wrist": ["wrist"],
}
_CENTRAL_PIVOTS = {
    "pelvis": ["root"], "spine1": ["spine04"], "spine2": ["spine02"], "spine3": ["spine01"],
    "neck": ["neck01"], "head": ["head"],
    "left_eye_smplhf": ["eye.L"], "right_eye_smplhf": ["eye.R"],
}
_SIDES = {"L": "left", "R": "right"}


def bone_to_joint(bone: str) -> str:
    """The SMPL-X joint that takes over anny bone ``bone``'s skinning weight."""
    if bone in _CENTRAL_BONES:
        return _CENTRAL_BONES[bone]
    name, side = bone.rsplit(".", 1)
    prefix = _SIDES[side]
    if name.startswith("toe"):
        return f"{prefix}_foot"
    if name.startswith("finger"):
        finger, segment = name[len("finger"):].split("-")
        return f"{prefix}_{_FINGERS[int(finger)]}{segment}"
    return f"{prefix}_{_SIDED_BONES[name]}"


def joint_pivot_bones() -> dict[str, list[str]]:
    """SMPL-X joint -> the anny bones whose mean head is that joint's centre (no jaw)."""
    pivots = {joint: list(bones) for joint, bones in _CENTRAL_PIVOTS.items()}
    for side, prefix in _SIDES.items():
        for joint, bones in _SIDED_PIVOTS.items():
            pivots[f"{prefix}_{joint}"] = [f"{b}.{side}" for b in bones]
        for number, finger in _FINGERS.items():
            for segment in (1, 2, 3):
                pivots[f"{prefix}_{finger}{segment}"] = [f"finger{number}-{segment}.{side}"]
    return pivots


def load_anny(facial_actions: bool = True):
    """anny's full-body model in float64 (the first call builds its cache: about a minute)."""
    import anny

    model = anny.Anny(facial_actions="all" if facial_actions else "none")
    return model.to(torch.float64)


def sample_phenotypes(
    rng: np.random.Generator, count: int, gender: tuple[float, float],
    ranges: dict[str, tuple[float, float]],
) -> np.ndarray:
    """(count, 6) phenotype values in ``PHENOTYPE_NAMES`` order, uniform in each range."""
    bounds = [tuple(gender)] + [tuple(ranges[name]) for name in PHENOTYPE_NAMES[1:]]
    low = np.array([b[0] for b in bounds])
    high = np.array([b[1] for b in bounds])
    return low + (high - low) * rng.random((count, len(bounds)))


def _align(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(B, 3, 3) smallest rotations taking directions ``source`` (B, 3) onto ``target``."""
    a = source / source.norm(dim=-1, keepdim=True)
    b = target / target.norm(dim=-1, keepdim=True)
    v = torch.cross(a, b, dim=-1)
    c = (a * b).sum(-1)
    zero = torch.zeros_like(c)
    skew = torch.stack([zero, -v[:, 2], v[:, 1], v[:, 2], zero, -v[:, 0],
                        -v[:, 1], v[:, 0], zero], dim=-1).view(-1, 3, 3)
    eye = torch.eye(3, dtype=a.dtype).expand_as(skew)
    return eye + skew + skew @ skew / (1.0 + c)[:, None, None]


def _t_pose_orientations(model, rest_poses: torch.Tensor) -> torch.Tensor:
    """(B, N, 4, 4) world orientations ('world-orient' deltas) that straighten both arms
    along +-x: the upper arm and the forearm (with the hand) each turn by the smallest
    rotation that lays them horizontal."""
    labels = list(model.bone_labels)
    head = rest_poses[..., :3, 3]
    deltas = rest_poses.clone()
    for side, sign in (("L", 1.0), ("R", -1.0)):
        target = torch.tensor([sign, 0.0, 0.0], dtype=rest_poses.dtype).expand(len(rest_poses), 3)
        shoulder, elbow, wrist = (labels.index(f"{b}.{side}") for b in ("upperarm01", "lowerarm01", "wrist"))
        upper = _align(head[:, elbow] - head[:, shoulder], target)
        fore = _align(head[:, wrist] - head[:, elbow], target)
        for index, label in enumerate(labels):
            if not label.endswith(f".{side}"):
                continue
            name = label[:-2]
            if name.startswith("upperarm"):
                deltas[:, index, :3, :3] = upper @ rest_poses[:, index, :3, :3]
            elif name.startswith(("lowerarm", "wrist", "metacarpal", "finger")):
                deltas[:, index, :3, :3] = fore @ rest_poses[:, index, :3, :3]
    return deltas


@torch.no_grad()
def bake_t_pose(model, phenotypes: np.ndarray, facial_actions: np.ndarray | None = None,
                chunk: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """T-posed vertices (B, V, 3) and bone heads (B, N, 3), in SMPL-X axes, metres, for
    phenotypes (B, 6) and optional facial-action weights (B, A)."""
    verts, heads = [], []
    axes = torch.as_tensor(ANNY_TO_SMPLX)
    for start in range(0, len(phenotypes), chunk):
        pheno = torch.as_tensor(phenotypes[start:start + chunk], dtype=torch.float64)
        kwargs = {name: pheno[:, i] for i, name in enumerate(PHENOTYPE_NAMES)}
        actions = None
        if facial_actions is not None:
            acts = torch.as_tensor(facial_actions[start:start + chunk], dtype=torch.float64)
            actions = {name: acts[:, i] for i, name in enumerate(model.facial_action_labels)}
        rest = model(phenotype_kwargs=kwargs, facial_actions=actions)
        deltas = _t_pose_orientations(model, rest["rest_bone_poses"].expand(len(pheno), -1, -1, -1))
        out = model(deltas, phenotype_kwargs=kwargs, facial_actions=actions,
                    pose_parameterization="world-orient")
        verts.append((out["vertices"] @ axes.T).numpy())
        heads.append((out["bone_poses"][..., :3, 3] @ axes.T).numpy())
    return np.concatenate(verts), np.concatenate(heads)


def coco_keypoint_weights(model) -> tuple[np.ndarray, list[str]]:
    """anny's COCO-23 keypoint regressor: weights (23, V) and labels."""
    from anny.keypoints import KeypointsRegressor

    regressor = KeypointsRegressor.coco(model)
    return regressor.regression_weights.double().numpy(), list(regressor.labels)
