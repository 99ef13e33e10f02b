"""How two BVH skeletons map onto SMPL-X's 22 body joints (pelvis + 21).

Each map says, for every SMPL-X body joint:
- ``driver``: the BVH joint whose world rotation the SMPL-X joint takes. BVH joints between
  two drivers fold into the SMPL-X joint's local rotation (CMU's Neck and Neck1 become SMPL-X's
  neck); ``blend`` to a second BVH joint shares one BVH rotation among SMPL-X joints that the
  BVH lacks (the Boxing skeleton's Chest rotation split over spine2 and spine3).
- ``bone``: two BVH joints whose rest-pose direction is the same body segment as SMPL-X's
  bone from this joint to ``SMPLX_BONE_CHILD``; the retargeting turns SMPL-X's rest bone onto
  it (the rest-pose correction). None: the joint keeps its parent's correction.
And, for the joints whose positions mean the same place on the body in both skeletons,
``positions``: SMPL-X joint -> BVH joint (used by the position fit and the error measure).

Both skeletons, like SMPL-X, are Y up and face +Z at rest with the body's left at +X.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class JointSource:
    driver: str
    bone: tuple[str, str] | None = None
    blend: tuple[str, float] | None = None  # (second BVH joint, share of its rotation)


@dataclass(frozen=True)
class SkeletonMap:
    name: str
    joints: dict[str, JointSource]  # SMPL-X body joint name -> its source
    positions: dict[str, str]  # SMPL-X joint name -> BVH joint at the same body place
    units_note: str = ""
    align_trunk: bool = True  # turn SMPL-X's spine so that its trunk line follows the BVH's at rest
    lead_in_frames: int = 0  # leading frames that are not part of the take (a calibration pose)


# The SMPL-X child that ends each joint's bone (joints with no single bone are left out).
SMPLX_BONE_CHILD = {
    "left_hip": "left_knee", "right_hip": "right_knee", "left_knee": "left_ankle", "right_knee": "right_ankle",
    "left_ankle": "left_foot", "right_ankle": "right_foot", "spine1": "spine2", "spine2": "spine3",
    "spine3": "neck", "neck": "head", "left_collar": "left_shoulder", "right_collar": "right_shoulder",
    "left_shoulder": "left_elbow", "right_shoulder": "right_elbow", "left_elbow": "left_wrist",
    "right_elbow": "right_wrist",
}


def _sides(template: dict[str, JointSource | str]) -> dict:
    """Both sides of a one-sided map written with '{side}' (SMPL-X) and '{Side}' (BVH)."""
    result = {}
    for smplx_side, bvh_side in (("left", "Left"), ("right", "Right")):
        def fill(text: str, bvh_side: str = bvh_side) -> str:
            return text.format(Side=bvh_side)

        for name, source in template.items():
            key = name.format(side=smplx_side)
            if isinstance(source, str):
                result[key] = fill(source)
            else:
                bone = tuple(fill(b) for b in source.bone) if source.bone else None
                result[key] = JointSource(fill(source.driver), bone)
    return result


def _limb_positions(limbs: dict[str, JointSource]) -> dict[str, str]:
    """The limb joints whose positions are compared: each at the bone that drives it (the
    collar bones are left out: their BVH joints sit elsewhere than SMPL-X's)."""
    return {name: source.driver for name, source in limbs.items() if not name.endswith("_collar")}


_CMU_LIMBS = {
    "{side}_hip": JointSource("{Side}UpLeg", ("{Side}UpLeg", "{Side}Leg")),
    "{side}_knee": JointSource("{Side}Leg", ("{Side}Leg", "{Side}Foot")),
    "{side}_ankle": JointSource("{Side}Foot", ("{Side}Foot", "{Side}ToeBase")),
    "{side}_foot": JointSource("{Side}ToeBase"),
    "{side}_collar": JointSource("{Side}Shoulder"),
    "{side}_shoulder": JointSource("{Side}Arm", ("{Side}Arm", "{Side}ForeArm")),
    "{side}_elbow": JointSource("{Side}ForeArm", ("{Side}ForeArm", "{Side}Hand")),
    "{side}_wrist": JointSource("{Side}Hand"),
}

CMU = SkeletonMap(
    name="cmu",
    joints={
        "pelvis": JointSource("Hips"),
        "spine1": JointSource("LowerBack", ("LowerBack", "Spine")),
        "spine2": JointSource("Spine", ("Spine", "Spine1")),
        "spine3": JointSource("Spine1"),
        "neck": JointSource("Neck1", ("Neck", "Head")),
        "head": JointSource("Head"),
        **_sides(_CMU_LIMBS),
    },
    positions={"head": "Head", **_sides(_limb_positions(_CMU_LIMBS))},
    units_note="cgspeed's CMU conversion: 1 unit = 1/0.45 inch (0.0564 m) by the ASF length convention",
    lead_in_frames=1,  # cgspeed's conversions open with one T-pose frame before the take
)

_BOXING_LIMBS = {
    "{side}_hip": JointSource("{Side}Hip", ("{Side}Hip", "{Side}Knee")),
    "{side}_knee": JointSource("{Side}Knee", ("{Side}Knee", "{Side}Ankle")),
    "{side}_ankle": JointSource("{Side}Ankle", ("{Side}Ankle", "{Side}Toes")),
    "{side}_foot": JointSource("{Side}Toes"),
    "{side}_collar": JointSource("{Side}Collar"),
    "{side}_shoulder": JointSource("{Side}Shoulder", ("{Side}Shoulder", "{Side}Elbow")),
    "{side}_elbow": JointSource("{Side}Elbow", ("{Side}Elbow", "{Side}Wrist")),
    "{side}_wrist": JointSource("{Side}Wrist"),
}

BOXING = SkeletonMap(
    name="boxing",
    joints={
        "pelvis": JointSource("Hips"),
        "spine1": JointSource("Ab", ("Ab", "Chest")),
        "spine2": JointSource("Ab", blend=("Chest", 0.5)),
        "spine3": JointSource("Chest"),
        "neck": JointSource("Neck", ("Neck", "Head")),
        "head": JointSource("Head"),
        **_sides(_BOXING_LIMBS),
    },
    positions={"head": "Head", **_sides(_limb_positions(_BOXING_LIMBS))},
    units_note="centimetres",
)

MAPS = {"cmu": CMU, "boxing": BOXING}
