"""Each keypoint format's own joints, by name, and how they land on bodyfit's layout.

A format's people arrive as (N, 3) arrays of x, y, confidence in the format's own joint order
(``Skeleton.joints``). ``Skeleton.to_openpose`` turns one into OpenPose's parts (BODY_25, both
hands, the 70-point face), which ``PersonKeypoints.to_layout`` then orders as bodyfit does.
Each OpenPose point takes one of the format's joints by name, the mean of a tuple of them
(with the lowest of their confidences: a mean of points not all seen is not seen), or nothing
(``None`` or absent: confidence 0).

Where a format's joint is defined otherwise than the body model's point (COCO's hips lie on
the body's surface, lower and wider than the model's hip joints; a neck made from the
shoulders), the table still maps it: how much it counts is a per-format confidence weight,
``cfg/keypoint_formats.yaml``, chosen by measurement (``benchmarks/keypoint_formats.py``).

Shapes: N joints of the format.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bodyfit.fileio.formats import mediapipe
from bodyfit.fileio.keypoint_layout import BODY25_NAMES, HAND_NAMES
from bodyfit.fileio.openpose_json import PersonKeypoints

Entry = str | tuple[str, ...] | None

COCO17_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
    "right_knee", "left_ankle", "right_ankle",
)
# COCO-WholeBody's six foot points (indices 17-22).
WHOLEBODY_FEET: tuple[str, ...] = ("left_big_toe", "left_small_toe", "left_heel", "right_big_toe",
                                   "right_small_toe", "right_heel")
# Halpe's nine extra body points (indices 17-25): its feet come in another order.
HALPE_EXTRA: tuple[str, ...] = ("head", "neck", "hip", "left_big_toe", "right_big_toe", "left_small_toe",
                                "right_small_toe", "left_heel", "right_heel")
# OpenPose's experimental BODY_25B (openpose_train/experimental_models): COCO's 17 in COCO's
# order, then MPII's upper neck and head top, then the feet.
BODY25B_NAMES: tuple[str, ...] = (
    "Nose", "LEye", "REye", "LEar", "REar", "LShoulder", "RShoulder", "LElbow", "RElbow", "LWrist",
    "RWrist", "LHip", "RHip", "LKnee", "RKnee", "LAnkle", "RAnkle", "UpperNeck", "HeadTop", "LBigToe",
    "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel",
)
FACE68_NAMES: tuple[str, ...] = tuple(f"face_{k}" for k in range(68))  # dlib's 68, in dlib's order
FACE70_NAMES: tuple[str, ...] = FACE68_NAMES + ("right_pupil", "left_pupil")  # OpenPose's face


def hand_names(side: str) -> tuple[str, ...]:
    """A hand's 21 joint names in OpenPose's order: ``left_hand_wrist``, ``left_hand_thumb1``, ..."""
    return tuple(f"{side}_hand_{name.lower()}" for name in HAND_NAMES)


HANDS = hand_names("left") + hand_names("right")

# BODY_25 point -> COCO joint(s): what COCO-17, COCO-WholeBody and Halpe share. COCO has no
# neck and no mid-hip: both are made from the pair around them.
BODY25_FROM_COCO: dict[str, Entry] = {
    "Nose": "nose", "Neck": ("left_shoulder", "right_shoulder"),
    "RShoulder": "right_shoulder", "RElbow": "right_elbow", "RWrist": "right_wrist",
    "LShoulder": "left_shoulder", "LElbow": "left_elbow", "LWrist": "left_wrist",
    "MidHip": ("left_hip", "right_hip"), "RHip": "right_hip", "RKnee": "right_knee", "RAnkle": "right_ankle",
    "LHip": "left_hip", "LKnee": "left_knee", "LAnkle": "left_ankle",
    "REye": "right_eye", "LEye": "left_eye", "REar": "right_ear", "LEar": "left_ear",
}
BODY25_FEET: dict[str, Entry] = {
    "LBigToe": "left_big_toe", "LSmallToe": "left_small_toe", "LHeel": "left_heel",
    "RBigToe": "right_big_toe", "RSmallToe": "right_small_toe", "RHeel": "right_heel",
}
# Halpe annotates a neck and a mid-hip of its own.
BODY25_FROM_HALPE: dict[str, Entry] = {**BODY25_FROM_COCO, **BODY25_FEET, "Neck": "neck", "MidHip": "hip"}
# BODY_25B: COCO's points under OpenPose's names; its "UpperNeck" is MPII's (the top of the
# neck, under the chin), not BODY_25's neck at the base of the neck, and its head top has no
# counterpart: the neck is made from the shoulders.
BODY25_FROM_BODY25B: dict[str, Entry] = {
    **{name: name for name in BODY25_NAMES if name in BODY25B_NAMES},
    "Neck": ("LShoulder", "RShoulder"), "MidHip": ("LHip", "RHip"),
}
BODY25_FROM_MEDIAPIPE: dict[str, Entry] = {
    name: (None if entry is None else tuple(f"pose_{e}" for e in entry) if isinstance(entry, tuple)
           else f"pose_{entry}")
    for name, entry in mediapipe.BODY25_FROM_POSE_NAMES.items()}


@dataclass(frozen=True)
class Skeleton:
    """A keypoint format: ``name`` (as ``--keypoint-format`` takes it), ``title`` (as the log
    says it), ``joints`` (N,) its joint names in file order, and the tables from those names
    to OpenPose's parts: ``body`` by BODY_25 name, ``left_hand`` / ``right_hand`` (21 entries,
    OpenPose's hand order) and ``face`` (70 entries, OpenPose's face) or None where the format
    has none."""

    name: str
    title: str
    joints: tuple[str, ...]
    body: dict[str, Entry]
    left_hand: tuple[Entry, ...] | None = None
    right_hand: tuple[Entry, ...] | None = None
    face: tuple[Entry, ...] | None = None

    def __post_init__(self) -> None:
        known = set(self.joints)
        unknown_body = sorted(set(self.body) - set(BODY25_NAMES))
        if unknown_body:
            raise ValueError(f"{self.name}: {unknown_body} are not BODY_25 names")
        for entry in [*self.body.values(), *(self.left_hand or ()), *(self.right_hand or ()), *(self.face or ())]:
            names = entry if isinstance(entry, tuple) else () if entry is None else (entry,)
            missing = [n for n in names if n not in known]
            if missing:
                raise ValueError(f"{self.name}: the table names {missing}, which are not among its joints")

    @property
    def index(self) -> dict[str, int]:
        """Joint name -> row."""
        return {name: row for row, name in enumerate(self.joints)}

    def to_openpose(self, points: np.ndarray) -> PersonKeypoints:
        """OpenPose's parts of one person given as ``points`` (N, 3) in the format's order."""
        points = np.asarray(points, dtype=np.float64)
        if points.shape != (len(self.joints), 3):
            raise ValueError(f"{self.title} points must be ({len(self.joints)}, 3), got {points.shape}")
        index = self.index
        body = _gather(points, index, [self.body.get(name) for name in BODY25_NAMES])
        return PersonKeypoints(body, _gather(points, index, self.left_hand or (None,) * 21),
                               _gather(points, index, self.right_hand or (None,) * 21),
                               _gather(points, index, self.face or (None,) * 70))


def _gather(points: np.ndarray, index: dict[str, int], table) -> np.ndarray:
    """(len(table), 3): each entry's point; a tuple's mean with its lowest confidence; zeros
    for None."""
    rows = np.zeros((len(table), 3))
    for row, entry in enumerate(table):
        if entry is None:
            continue
        members = points[[index[n] for n in (entry if isinstance(entry, tuple) else (entry,))]]
        rows[row, :2] = members[:, :2].mean(axis=0)
        rows[row, 2] = members[:, 2].min()
    return rows


def _mesh_entry(entry: int | tuple[int, ...]) -> Entry:
    return tuple(f"face_mesh_{i}" for i in entry) if isinstance(entry, tuple) else f"face_mesh_{entry}"


def _build() -> dict[str, Skeleton]:
    """Every format bodyfit reads, by name."""
    face68 = FACE68_NAMES + (None, None)  # no pupils
    wholebody_hands = dict(left_hand=hand_names("left"), right_hand=hand_names("right"))
    mediapipe_joints = (tuple(f"pose_{n}" for n in mediapipe.POSE_NAMES) + HANDS
                        + tuple(f"face_mesh_{i}" for i in range(mediapipe.FACE_MESH_LANDMARKS)))
    skeletons = [
        Skeleton("openpose", "OpenPose BODY_25", BODY25_NAMES + HANDS + FACE70_NAMES,
                 {name: name for name in BODY25_NAMES}, face=FACE70_NAMES, **wholebody_hands),
        Skeleton("body25b", "OpenPose BODY_25B", BODY25B_NAMES + HANDS + FACE70_NAMES, BODY25_FROM_BODY25B,
                 face=FACE70_NAMES, **wholebody_hands),
        Skeleton("coco17", "COCO-17", COCO17_NAMES, BODY25_FROM_COCO),
        Skeleton("coco_wholebody", "COCO-WholeBody", COCO17_NAMES + WHOLEBODY_FEET + FACE68_NAMES + HANDS,
                 {**BODY25_FROM_COCO, **BODY25_FEET}, face=face68, **wholebody_hands),
        Skeleton("halpe26", "Halpe-26", COCO17_NAMES + HALPE_EXTRA, BODY25_FROM_HALPE),
        Skeleton("halpe136", "Halpe-136", COCO17_NAMES + HALPE_EXTRA + FACE68_NAMES + HANDS, BODY25_FROM_HALPE,
                 face=face68, **wholebody_hands),
        Skeleton("mediapipe", "MediaPipe", mediapipe_joints, BODY25_FROM_MEDIAPIPE,
                 face=tuple(_mesh_entry(e) for e in mediapipe.FACE70_FROM_FACE_MESH), **wholebody_hands),
    ]
    return {skeleton.name: skeleton for skeleton in skeletons}


SKELETONS: dict[str, Skeleton] = _build()
FORMAT_NAMES: tuple[str, ...] = tuple(SKELETONS)
# Formats told apart by their point count where the file does not name them.
BY_POINT_COUNT: dict[int, str] = {17: "coco17", 26: "halpe26", 133: "coco_wholebody", 136: "halpe136"}


def skeleton(name: str) -> Skeleton:
    """The format called ``name``; ``ValueError`` listing the known ones."""
    if name not in SKELETONS:
        raise ValueError(f"unknown keypoint format {name!r}; known: {', '.join(FORMAT_NAMES)}")
    return SKELETONS[name]


def apply_weights(person: PersonKeypoints, weights: dict[str, float]) -> PersonKeypoints:
    """``person`` with its body confidences multiplied by ``weights`` (BODY_25 name -> factor)."""
    body = person.body.copy()
    for name, weight in weights.items():
        body[BODY25_NAMES.index(name), 2] *= weight
    return PersonKeypoints(body, person.left_hand, person.right_hand, person.face)
