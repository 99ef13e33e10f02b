"""Fitting cases drawn to look like real single photographs: poses from the motion corpus's
held-out clips (their real tilt and bending relative to gravity, any heading), handheld or
raised cameras with phone-to-tele lenses, bodies that fill 40-90 % of the frame and are
sometimes cut by its border, and keypoint noise that scales with the body's size in pixels,
with hidden faces on back views and missing hands.

Frames. The world is gravity-aligned with Y up and the camera at its origin; a body at rest
faces +Z (the model frame). The camera is OpenCV's (x right, y down, z forward):
``x_cam = camera.rotation @ x_world``. Each case's parameters place the body directly in the
camera frame (``global_orient``, ``transl``), as a fit's do.

Shapes: K keypoints in bodyfit's layout (``fileio.keypoint_layout``), J skeleton joints, V vertices,
N pool frames.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial import ConvexHull
from scipy.spatial.transform import Rotation

from bodyfit.bodymodels.layer import BodyModel, BodyParams
from bodyfit.bodymodels.joints import SMPLX_JOINT
from bodyfit.fileio.keypoint_layout import BODY, FACE, LEFT_HAND, OPENPOSE, RIGHT_HAND
from bodyfit.geometry import project_numpy
from bodyfit.motion.corpus import load_corpus, mirror_body_pose

VIEWS = ("front", "side", "back")
POSTURES = ("upright", "bent")
BENT_DEG = 30.0
FULL_FRAME_DIAGONAL_MM = 43.27  # a 35 mm frame's diagonal: f_px = f35 * diagonal_px / 43.27
FACE_POINTS = np.r_[np.arange(FACE.start, FACE.stop), [OPENPOSE[n] for n in ("Nose", "REye", "LEye")]]
_LEVEL_CAMERA = Rotation.from_rotvec([math.pi, 0.0, 0.0])  # world Y up -> camera y down, +Z towards it
_CUT_SIDES = ("bottom", "top", "left", "right")


@dataclass(frozen=True)
class CaseDistribution:
    """What a case is drawn from; ranges are (low, high) of uniform draws unless said."""

    split: str = "heldout"                   # corpus clips the poses come from
    frame_stride: int = 3                    # every 3rd frame (10 fps): neighbours are not near-copies
    bent_share: float = 0.25                 # share of cases drawn from bent frames (the corpus has few)
    mirror_share: float = 0.5                # share of poses mirrored left-right
    pitch_deg: tuple[float, float] = (-30.0, 20.0)   # camera pitch, negative looking down
    roll_deg: tuple[float, float] = (-10.0, 10.0)
    main_lens_share: float = 0.5             # phones' main camera, else log-uniform over focal_35mm
    main_lens_35mm: tuple[float, float] = (23.0, 28.0)
    focal_35mm: tuple[float, float] = (18.0, 85.0)
    image_sizes: tuple[tuple[int, int], ...] = ((960, 1280), (1280, 960))  # (height, width), equally likely
    fill: tuple[float, float] = (0.4, 0.9)   # the body's box over the frame, along its tighter axis;
                                             # for a truncated body, the part in the frame
    min_distance: float = 0.8                # no body point nearer the camera (m); may lower the fill
    truncated_share: float = 0.2
    cut: tuple[float, float] = (0.15, 0.5)   # share of a truncated body's box outside the frame
    cut_side_weights: tuple[float, ...] = (0.6, 0.1, 0.15, 0.15)  # bottom, top, left, right
    body_noise: tuple[float, float] = (0.01, 0.02)   # sigma over the body's height in pixels
    detail_noise_factor: tuple[float, float] = (2.0, 3.0)  # hands and face: this many times more
    min_confidence: float = 0.3
    dropout: tuple[float, float] = (0.05, 0.15)
    hand_missing: float = 0.35               # each hand's 21 points missing together
    betas_clip: float = 2.0
    hand_pose_sigma: float = 0.15
    expression_sigma: float = 0.3


@dataclass
class PosePool:
    """Candidate poses: ``poses`` (N, 66) root orientation then 21 body joints (axis-angle,
    world frame), ``flexion_deg`` (N,) trunk flexion of the mean shape, ``names`` clip:frame."""

    poses: np.ndarray
    flexion_deg: np.ndarray
    names: list[str]


@dataclass
class Camera:
    """``intrinsics`` (4,) fx, fy, cx, cy; ``image_size`` (height, width); ``rotation`` (3, 3)
    camera-from-world."""

    intrinsics: np.ndarray
    image_size: tuple[int, int]
    rotation: np.ndarray
    pitch_deg: float
    roll_deg: float
    focal_35mm: float


@dataclass
class RealisticCase:
    """One drawn case. ``params`` (each (1, D)) place the body in the camera frame;
    ``joints_3d`` (J, 3), ``keypoints_3d`` (K, 3) and ``vertices`` (V, 3) are the truth there
    (metres); ``keypoints_2d`` (K, 2) their noise-free projection; ``observed`` (K, 3) the
    detections (x, y, confidence; zero rows unseen). ``body_height_px`` is the body's standing
    height in pixels at its MidHip's depth; ``fill`` the share of the frame its whole box was
    placed to fill (``frame_fill``), centred, before a truncated body (``cut_side``: the border
    that cuts it, else None) was shifted sideways; ``truncated``: a BODY_25 point lies outside the
    image; ``noise_px`` the body points' noise scale."""

    case_id: str
    source: str
    params: BodyParams
    joints_3d: np.ndarray
    keypoints_3d: np.ndarray
    vertices: np.ndarray
    keypoints_2d: np.ndarray
    observed: np.ndarray
    camera: Camera
    body_height_px: float
    fill: float
    noise_px: float
    view: str
    view_yaw_deg: float
    posture: str
    trunk_flexion_deg: float
    truncated: bool
    face_hidden: bool
    cut_side: str | None

    intrinsics = property(lambda self: self.camera.intrinsics, doc="(4,) fx, fy, cx, cy")
    image_size = property(lambda self: self.camera.image_size, doc="(height, width)")

    def initial_params(self) -> dict[str, np.ndarray]:
        """The true parameters as a task's ``initial`` (name -> (D,)): a start from the truth
        (the eyes, which a task does not carry, stay at rest as in every case)."""
        return {name: value[0].double().numpy() for name, value in self.params.as_dict().items()
                if name not in ("leye_pose", "reye_pose")}

    def describe(self) -> dict:
        """JSON-ready bins and camera of the case."""
        cam = self.camera
        return {"case_id": self.case_id, "source": self.source, "view": self.view, "posture": self.posture,
                "truncated": self.truncated, "cut_side": self.cut_side, "face_hidden": self.face_hidden,
                "view_yaw_deg": self.view_yaw_deg, "trunk_flexion_deg": self.trunk_flexion_deg,
                "body_height_px": self.body_height_px, "fill": self.fill, "noise_px": self.noise_px,
                "image_size": list(cam.image_size), "intrinsics": cam.intrinsics.tolist(),
                "focal_35mm": cam.focal_35mm, "pitch_deg": cam.pitch_deg, "roll_deg": cam.roll_deg}


def trunk_flexion_deg(joints_world: np.ndarray) -> np.ndarray:
    """(...,) degrees between pelvis->neck and the world's up (+Y) of joints (..., J, 3)."""
    trunk = joints_world[..., SMPLX_JOINT["neck"], :] - joints_world[..., SMPLX_JOINT["pelvis"], :]
    cosine = trunk[..., 1] / np.linalg.norm(trunk, axis=-1)
    return np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))


def view_yaw_deg(joints_world: np.ndarray) -> float:
    """Signed degrees about the vertical between the body's facing (the horizontal normal of
    its hip axis) and the direction from its pelvis to the camera (the world origin): 0 facing
    the camera, +-180 its back to it. ``joints_world`` (J, 3)."""
    left = joints_world[SMPLX_JOINT["left_hip"]] - joints_world[SMPLX_JOINT["right_hip"]]
    facing = np.cross(left, [0.0, 1.0, 0.0])  # the hips' +x crossed with up: +Z at rest
    to_camera = -joints_world[SMPLX_JOINT["pelvis"]]
    facing[1] = to_camera[1] = 0.0
    sine = np.cross(to_camera, facing)[1]
    return float(np.degrees(np.arctan2(sine, np.dot(to_camera, facing))))


def view_bin(yaw_deg: float) -> str:
    """front (|yaw| < 45), side (45-135) or back (> 135)."""
    return VIEWS[0] if abs(yaw_deg) < 45 else VIEWS[1] if abs(yaw_deg) <= 135 else VIEWS[2]


def _posed(model: BodyModel, poses: np.ndarray) -> BodyParams:
    """Mean-shape parameters (B, D) of poses (B, 66) at zero translation."""
    params = model.zero_params(len(poses))
    params.global_orient[:] = torch.as_tensor(poses[:, :3])
    params.body_pose[:] = torch.as_tensor(poses[:, 3:])
    return params


def load_pose_pool(model: BodyModel, split: str = "heldout", stride: int = 3, widened: bool = False) -> PosePool:
    """Every ``stride``-th frame of the ``split`` clips (with ``widened``, also the widened
    poses of that split), with each frame's trunk flexion."""
    poses, names = [], []
    for clip in load_corpus(split, widened=widened):
        frames = np.arange(0, len(clip.poses), stride)
        poses.append(clip.poses[frames])
        names += [f"{clip.name}:{frame}" for frame in frames]
    poses = np.concatenate(poses)
    with torch.no_grad():
        joints, _ = model.keypoints(_posed(model, poses))
    return PosePool(poses, trunk_flexion_deg(joints.numpy().astype(np.float64)), names)


def stature(model: BodyModel, betas: torch.Tensor) -> float:
    """Standing height (m) of the shape ``betas`` (1, D): its rest mesh's extent in Y."""
    with torch.no_grad():
        vertices = model(model.rest_params(betas)).vertices[0].numpy()
    return float(vertices[:, 1].max() - vertices[:, 1].min())


def draw_camera(rng: np.random.Generator, dist: CaseDistribution) -> Camera:
    """An image size, a focal length (35 mm equivalent) and the camera's pitch and roll."""
    height, width = dist.image_sizes[rng.integers(len(dist.image_sizes))]
    if rng.random() < dist.main_lens_share:
        focal_35mm = float(rng.uniform(*dist.main_lens_35mm))
    else:
        focal_35mm = float(np.exp(rng.uniform(*np.log(dist.focal_35mm))))
    focal = focal_35mm * math.hypot(width, height) / FULL_FRAME_DIAGONAL_MM
    pitch, roll = float(rng.uniform(*dist.pitch_deg)), float(rng.uniform(*dist.roll_deg))
    return Camera(np.array([focal, focal, width / 2, height / 2]), (int(height), int(width)),
                  camera_rotation(pitch, roll), pitch, roll, focal_35mm)


def camera_rotation(pitch_deg: float, roll_deg: float) -> np.ndarray:
    """(3, 3) camera-from-world of a camera pitched up by ``pitch_deg`` (negative: looking
    down) and rolled by ``roll_deg`` about its optical axis."""
    turn = Rotation.from_euler("xz", [-pitch_deg, roll_deg], degrees=True)  # extrinsic: pitch, then roll
    return (turn * _LEVEL_CAMERA).as_matrix()


def frame_fill(pixels: np.ndarray, image_size: tuple[int, int]) -> float:
    """Share of the frame the box of ``pixels`` (N, 2) spans along its tighter axis."""
    extent = pixels.max(0) - pixels.min(0)
    return float(max(extent[0] / image_size[1], extent[1] / image_size[0]))


def _transl(vertices: np.ndarray, intrinsics: np.ndarray, aim_px: np.ndarray, depth: float) -> np.ndarray:
    """(3,) the translation that puts the 3D box centre of ``vertices`` (V, 3) on the ray
    through ``aim_px`` (2,) at ``depth``."""
    centre = 0.5 * (vertices.min(0) + vertices.max(0))
    return np.append((aim_px - intrinsics[2:]) / intrinsics[:2], 1.0) * depth - centre


def place_body(vertices: np.ndarray, intrinsics: np.ndarray, image_size: tuple[int, int], fill: float,
               aim_px: np.ndarray, min_distance: float, rounds: int = 3) -> tuple[np.ndarray, float]:
    """Translation (3,) that centres the 2D box of ``vertices`` (V, 3, camera frame, zero
    translation) on ``aim_px`` (2,) with the box filling ``fill`` of the frame (depth by
    bisection: the fill shrinks with depth), and the fill reached: less than ``fill`` where
    that needs a vertex nearer the camera than ``min_distance`` (m)."""
    centre_z = 0.5 * (vertices[:, 2].min() + vertices[:, 2].max())
    nearest = min_distance + centre_z - vertices[:, 2].min()  # the least box-centre depth
    target, aim = np.asarray(aim_px, dtype=np.float64), np.asarray(aim_px, dtype=np.float64).copy()

    def fill_at(depth: float) -> tuple[float, np.ndarray]:
        pixels = project_numpy(vertices + _transl(vertices, intrinsics, aim, depth), intrinsics)
        return frame_fill(pixels, image_size), pixels

    pixels = None
    for _ in range(rounds):
        if pixels is not None:  # perspective moved the box off its aim: aim again
            aim += target - 0.5 * (pixels.min(0) + pixels.max(0))
        low, high = math.log(nearest), math.log(nearest + 500.0)
        if fill_at(nearest)[0] > fill:
            for _ in range(24):
                middle = 0.5 * (low + high)
                low, high = (middle, high) if fill_at(math.exp(middle))[0] > fill else (low, middle)
        depth = math.exp(low)
        reached, pixels = fill_at(depth)
    return _transl(vertices, intrinsics, aim, depth), reached


def _aim(rng: np.random.Generator, box: np.ndarray, image_size: tuple[int, int], cut_side: str | None,
         cut: float) -> np.ndarray:
    """Where the box (2,: width, height px) is centred: anywhere it fits with a 2 % margin,
    or, with ``cut_side``, past that border by ``cut`` of its extent."""
    frame = np.array(image_size[::-1], dtype=np.float64)
    low, high = box / 2 + 0.02 * frame, frame - box / 2 - 0.02 * frame
    aim = np.where(low < high, rng.uniform(np.minimum(low, high), np.maximum(low, high)), frame / 2)
    if cut_side is not None:
        axis = 1 if cut_side in ("bottom", "top") else 0
        outside = cut * box[axis] - box[axis] / 2
        aim[axis] = frame[axis] + outside if cut_side in ("bottom", "right") else -outside
    return aim


def _inward(pixels: np.ndarray, image_size: tuple[int, int], margin: float = 0.01) -> np.ndarray:
    """(2,) the shift (px) that brings the box of ``pixels`` (N, 2) inside the frame with a
    ``margin`` share on each side; zero when it is inside."""
    frame = np.array(image_size[::-1], dtype=np.float64)
    low, high = margin * frame - pixels.min(0), pixels.max(0) - (1 - margin) * frame
    return np.maximum(0.0, low) - np.maximum(0.0, high)


def face_turned_away(keypoints_3d: np.ndarray) -> bool:
    """Whether the face points away from the camera: the nose, seen from between the ears,
    points away from the camera at the origin. ``keypoints_3d`` (K, 3) camera frame."""
    ears = 0.5 * (keypoints_3d[OPENPOSE["REar"]] + keypoints_3d[OPENPOSE["LEar"]])
    forward = keypoints_3d[OPENPOSE["Nose"]] - ears
    return bool(np.dot(forward, -ears) < 0.0)


def observe(keypoints_2d: np.ndarray, valid: np.ndarray, image_size: tuple[int, int], body_height_px: float,
            face_hidden: bool, rng: np.random.Generator, dist: CaseDistribution) -> tuple[np.ndarray, float]:
    """Detections (K, 3) of noise-free keypoints (K, 2) and the body points' noise scale (px).
    Each point's noise is sigma * (0.5 + q), q ~ U(0, 1), and its confidence 1 - (1 -
    min_confidence) q: noisier points are less confident. Unseen rows are zero: points the
    model lacks (``valid`` (K,) False), dropped ones, hidden hands and faces, and points
    outside the image (noise-free or observed)."""
    count = len(keypoints_2d)
    sigma = float(rng.uniform(*dist.body_noise)) * body_height_px
    scale = np.full(count, sigma)
    detail = np.r_[np.arange(LEFT_HAND.start, RIGHT_HAND.stop), np.arange(FACE.start, FACE.stop)]
    scale[detail] *= rng.uniform(*dist.detail_noise_factor)
    quality = rng.random(count)
    noisy = keypoints_2d + rng.normal(size=(count, 2)) * (scale * (0.5 + quality))[:, None]
    confidence = 1.0 - (1.0 - dist.min_confidence) * quality
    unseen = ~valid | (rng.random(count) < rng.uniform(*dist.dropout))
    for hand in (LEFT_HAND, RIGHT_HAND):
        if rng.random() < dist.hand_missing:
            unseen[hand] = True
    if face_hidden:
        unseen[FACE_POINTS] = True
    unseen |= ~inside_image(keypoints_2d, image_size) | ~inside_image(noisy, image_size)
    observed = np.column_stack([noisy, confidence])
    observed[unseen] = 0.0
    return observed, sigma


def inside_image(pixels: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """(N,) whether pixels (N, 2) lie in the image."""
    height, width = image_size
    return (pixels[:, 0] >= 0) & (pixels[:, 0] < width) & (pixels[:, 1] >= 0) & (pixels[:, 1] < height)


class CaseGenerator:
    """Draws ``RealisticCase``s of ``model`` from ``pool`` under ``dist``."""

    def __init__(self, model: BodyModel, pool: PosePool, dist: CaseDistribution | None = None) -> None:
        self.model, self.pool, self.dist = model, pool, dist or CaseDistribution()
        self.bent = np.flatnonzero(pool.flexion_deg > BENT_DEG)
        self.upright = np.flatnonzero(pool.flexion_deg <= BENT_DEG)
        if len(self.upright) == 0:
            raise ValueError(f"the pose pool ({len(pool.names)} frames) has no upright frame")

    def draw_pose(self, rng: np.random.Generator) -> tuple[np.ndarray, str]:
        """A pool pose (66,) with a random heading (and maybe mirrored), and its name."""
        bent = len(self.bent) > 0 and rng.random() < self.dist.bent_share
        index = int(rng.choice(self.bent if bent else self.upright))
        pose, name = self.pool.poses[index].copy(), self.pool.names[index]
        if rng.random() < self.dist.mirror_share:
            pose, name = mirror_body_pose(pose[None])[0], name + ":mirrored"
        heading = Rotation.from_rotvec([0.0, rng.uniform(0.0, 2 * math.pi), 0.0])
        pose[:3] = (heading * Rotation.from_rotvec(pose[:3])).as_rotvec()
        return pose, name

    def draw_body(self, rng: np.random.Generator, pose: np.ndarray, camera: Camera) -> BodyParams:
        """Parameters (1, D) of ``pose`` (66,, world frame) turned into the camera frame, with
        a random shape, hands and expression, at zero translation."""
        dist = self.dist
        params = _posed(self.model, pose[None])
        world = Rotation.from_rotvec(pose[:3])
        params.global_orient[0] = torch.as_tensor((Rotation.from_matrix(camera.rotation) * world).as_rotvec())
        betas = np.clip(rng.normal(size=self.model.num_betas), -dist.betas_clip, dist.betas_clip)
        params.betas[0, :self.model.num_betas] = torch.as_tensor(betas)
        expression = rng.normal(scale=dist.expression_sigma, size=params.expression.shape[1])
        params.expression[0] = torch.as_tensor(expression)
        for hand in (params.left_hand_pose, params.right_hand_pose):
            hand[0] = torch.as_tensor(rng.normal(scale=dist.hand_pose_sigma, size=45))
        return params

    def stature(self, params: BodyParams) -> float:
        return stature(self.model, params.betas[:1])

    def draw_framing(self, rng: np.random.Generator) -> tuple[float, str | None, float]:
        """The fill, the border that cuts the body (None: uncut) and how much of it."""
        dist = self.dist
        fill, truncated = float(rng.uniform(*dist.fill)), rng.random() < dist.truncated_share
        weights = np.asarray(dist.cut_side_weights)
        side = _CUT_SIDES[rng.choice(len(_CUT_SIDES), p=weights / weights.sum())]
        return fill, side if truncated else None, float(rng.uniform(*dist.cut))

    def place(self, rng: np.random.Generator, vertices: np.ndarray, camera: Camera, fill: float,
              cut_side: str | None, cut: float) -> tuple[np.ndarray, float]:
        """Translation (3,) of a body (``vertices`` (V, 3) at zero translation) and the fill its
        whole box reaches: solved centred in the frame, then solved again at a random spot
        where the box fits, or (``cut_side``) made larger, fill / (1 - cut), so that the part
        left in the frame fills about ``fill`` (a close-up), and shifted sideways at that
        depth past the border by ``cut`` of its extent."""
        intrinsics, size, near = camera.intrinsics, camera.image_size, self.dist.min_distance
        vertices = vertices[ConvexHull(vertices).vertices]  # a box's extremes lie on the hull
        whole = fill if cut_side is None else fill / (1.0 - cut)
        centred, fill = place_body(vertices, intrinsics, size, whole, intrinsics[2:], near)
        pixels = project_numpy(vertices + centred, intrinsics)
        aim = _aim(rng, pixels.max(0) - pixels.min(0), size, cut_side, cut)
        for _ in range(4 if cut_side is None else 0):  # perspective may stretch an off-centre box
            transl, reached = place_body(vertices, intrinsics, size, fill, aim, near)
            inward = _inward(project_numpy(vertices + transl, intrinsics), size)
            if not inward.any():
                return transl, reached
            aim = aim + 1.5 * inward
        if cut_side is None:
            return centred, fill
        depth = centred[2] + 0.5 * (vertices[:, 2].min() + vertices[:, 2].max())  # the box centre's
        shift = (aim - 0.5 * (pixels.min(0) + pixels.max(0))) / intrinsics[:2] * depth
        return centred + np.append(shift, 0.0), fill

    def sample(self, rng: np.random.Generator, case_id: str) -> RealisticCase:
        """One case (see the module docstring)."""
        pose, source = self.draw_pose(rng)
        camera = draw_camera(rng, self.dist)
        params = self.draw_body(rng, pose, camera)
        with torch.no_grad():
            output = self.model(params)
        joints, keypoints, vertices = (x[0].numpy().astype(np.float64)
                                       for x in (output.joints, output.keypoints, output.vertices))
        fill, cut_side, cut = self.draw_framing(rng)
        transl, fill = self.place(rng, vertices, camera, fill, cut_side, cut)
        params.transl[0] = torch.as_tensor(transl)
        joints, vertices, valid = joints + transl, vertices + transl, self.model.keypoint_valid.numpy()
        keypoints = np.where(valid[:, None], keypoints + transl, 0.0)  # points the model lacks stay zero
        keypoints_2d = np.zeros((len(keypoints), 2))
        keypoints_2d[valid] = project_numpy(keypoints[valid], camera.intrinsics)
        world_joints = joints @ camera.rotation  # rows: R^T x
        yaw, flexion = view_yaw_deg(world_joints), float(trunk_flexion_deg(world_joints))
        face_hidden = view_bin(yaw) == "back" or face_turned_away(keypoints)
        height_px = float(camera.intrinsics[1] * self.stature(params) / keypoints[OPENPOSE["MidHip"], 2])
        observed, noise = observe(keypoints_2d, valid, camera.image_size, height_px, face_hidden, rng,
                                  self.dist)
        truncated = bool((~inside_image(keypoints_2d[BODY], camera.image_size) & valid[BODY]).any())
        return RealisticCase(case_id, source, params, joints, keypoints, vertices.astype(np.float32),
                             keypoints_2d, observed, camera, height_px, fill, noise, view_bin(yaw), yaw,
                             POSTURES[int(flexion > BENT_DEG)], flexion, truncated, face_hidden, cut_side)


def make_cases(model: BodyModel, count: int, seed: int, dist: CaseDistribution | None = None,
               pool: PosePool | None = None) -> list[RealisticCase]:
    """``count`` cases drawn with ``numpy.random.default_rng(seed)``: the same seed, the same
    cases."""
    if count < 0:
        raise ValueError(f"count must be at least 0, got {count}")
    dist = dist or CaseDistribution()
    pool = pool or load_pose_pool(model, dist.split, dist.frame_stride)
    generator, rng = CaseGenerator(model, pool, dist), np.random.default_rng(seed)
    return [generator.sample(rng, f"case_{index:04d}") for index in range(count)]
