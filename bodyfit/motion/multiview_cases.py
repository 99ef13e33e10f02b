"""Multi-camera cases with exact ground truth: held-out motion-corpus clips filmed by a
calibrated ring of 2-8 cameras, with each camera's detections shuffled as a detector gives them.

World frame: Z up (as Pose2Sim's and Qualisys' calibrations), metres, the ground at z = 0
(each person's lowest vertex over the clip touches it). The corpus is Y up: its motion is turned
by a proper rotation (+90 degrees about X: y -> z, z -> -y). Cameras are ``fileio.cameras``'s:
world to camera ``x_cam = R x + t`` with OpenCV's axes (x right, y down, z forward).

A case holds the subject (person 0, always), maybe a background person (person 1: another
held-out clip further from the rig centre, seen by whichever cameras its view holds, maybe cut
by the image border) and maybe false detections (identity -1). The rig: cameras on a ring
around the subject's mean position (radius and height drawn per camera, ring angles at least
``min_separation_deg`` apart), each aimed at the subject's mean keypoint with a small random
offset and roll; a 35 mm-equivalent focal length drawn log-uniformly, lowered (never below the
range's low end) so that the subject's whole motion fits ``max_fill`` of the frame; optionally
a radial k1 (then the detections are of the distorted pixels, ``Camera.project``).

Each camera's detections of a true person are ``motion.sequences.observe_sequence``'s (white
jitter, slow drift, dropouts of a few frames, missing hands, faces turned away, left-right limb
swaps, points outside the image unseen), then occlusion: by the other true person (the nearer
body, as capsules around its BODY_25 bones, hides the farther one's points behind it) and by
objects (with ``occlusion_rate`` per camera and person, one limb hidden for a run of frames).
A person with fewer than ``min_points`` BODY_25 points seen is not detected in that frame.
False detections: with ``false_rate`` per camera and frame either a few scattered low-confidence
points or a whole other pose standing somewhere in that camera's view only.

Shapes: T frames, K keypoints (``fileio.keypoint_layout``), J skeleton joints, V cameras,
P_t detections of one camera in frame t.

``motion.multiview_files.write_case`` writes a case as a user of such a rig has it (``Calib.toml``,
OpenPose JSON per camera, frames) and its truth, in the layout the multi-view runner reads.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from bodyfit.bodymodels.layer import BodyModel, BodyParams
from bodyfit.fileio.cameras import Camera, CameraRig
from bodyfit.fileio.keypoint_layout import BODY, LEFT_HAND, OPENPOSE, RIGHT_HAND
from bodyfit.motion.cases import FULL_FRAME_DIAGONAL_MM, stature
from bodyfit.motion.corpus import MotionClip
from bodyfit.motion.sequences import SequenceDistribution, SequenceGenerator, camera_params, observe_sequence

Z_UP = Rotation.from_rotvec([math.pi / 2, 0.0, 0.0]).as_matrix()  # corpus Y up -> world Z up
NEAREST = 0.1  # m: points nearer a camera's image plane than this (or behind it) are unseen
LOWEST_FRAMES = 4  # the mesh is posed in the frames whose keypoints reach lowest, to find the ground
GHOST_STATURE = 1.7  # m: the height that scales a false pose's detection noise
_FAR = -1e4    # px: where unseen points are put before observe_sequence, which drops them
_BONES = (("Neck", "MidHip", 0.15), ("RShoulder", "LShoulder", 0.10), ("RHip", "LHip", 0.12),
          ("Neck", "Nose", 0.10), ("RShoulder", "RElbow", 0.06), ("RElbow", "RWrist", 0.05),
          ("LShoulder", "LElbow", 0.06), ("LElbow", "LWrist", 0.05), ("RHip", "RKnee", 0.08),
          ("RKnee", "RAnkle", 0.06), ("LHip", "LKnee", 0.08), ("LKnee", "LAnkle", 0.06))  # a, b, radius (m)
_BONE_A = np.array([OPENPOSE[a] for a, _, _ in _BONES])
_BONE_B = np.array([OPENPOSE[b] for _, b, _ in _BONES])
_BONE_RADIUS = np.array([radius for _, _, radius in _BONES])


def _points(*names: str) -> np.ndarray:
    return np.array([OPENPOSE[name] for name in names])


_LIMBS = (np.r_[_points("RElbow", "RWrist"), np.arange(RIGHT_HAND.start, RIGHT_HAND.stop)],
          np.r_[_points("LElbow", "LWrist"), np.arange(LEFT_HAND.start, LEFT_HAND.stop)],
          _points("RKnee", "RAnkle", "RHeel", "RBigToe", "RSmallToe"),
          _points("LKnee", "LAnkle", "LHeel", "LBigToe", "LSmallToe"),
          _points("RKnee", "RAnkle", "RHeel", "RBigToe", "RSmallToe", "LKnee", "LAnkle", "LHeel", "LBigToe",
                  "LSmallToe"))  # what an object in front hides: an arm with its hand, a leg, both legs


@dataclass(frozen=True)
class MultiViewDistribution:
    """What a multi-view case is drawn from; ranges are (low, high) of uniform draws unless said.
    ``noise`` gives the clips' split, mirroring, shape range and the detector noise (its
    ``length``, ``camera`` and ``fill`` are not used: the length is this one's)."""

    length: int = 60                                   # frames (2 s at 30 fps); a shorter clip gives all it has
    cameras: tuple[int, int] = (2, 8)                  # V, both ends included
    radius: tuple[float, float] = (3.0, 6.0)           # m, horizontal, from the subject's mean
    height: tuple[float, float] = (0.8, 2.5)           # m above the ground
    min_separation_deg: float = 25.0                   # between two cameras' ring angles
    aim_offset: float = 0.15                           # m, per axis, from the subject's mean keypoint
    roll_deg: tuple[float, float] = (-3.0, 3.0)
    focal_35mm: tuple[float, float] = (24.0, 60.0)     # log-uniform, then lowered to fit max_fill
    max_fill: float = 0.9                              # share of the frame the subject's motion may span
    image_sizes: tuple[tuple[int, int], ...] = ((1080, 1920), (1920, 1088))  # (height, width), equally likely
    principal_offset: float = 0.01                     # cx, cy off the image centre by up to this share
    placement: float = 1.0                             # m: the subject's mean is in this square about the origin
    background_share: float = 0.3                      # cases with a background person
    background_distance: tuple[float, float] = (2.0, 7.0)  # m, horizontal, from the subject's mean
    clearance: float = 1.0                             # m: the background person's pelvis from the subject's
                                                       # and from every camera, in every frame
    false_rate: float = 0.05                           # per camera and frame: a false detection
    ghost_share: float = 0.5                           # of false detections: a whole other pose, else scatter
    occlusion_rate: float = 0.3                        # per camera and person: an object hides one limb
    occlusion_frames: tuple[int, int] = (5, 20)        # for this many frames, both ends included
    min_points: int = 4                                # BODY_25 points seen for a person to be detected
    distortion: bool = False                           # some cameras get a radial k1
    distorted_share: float = 0.5
    k1: tuple[float, float] = (-0.1, 0.1)
    noise: SequenceDistribution = field(default_factory=SequenceDistribution)


@dataclass
class PersonTruth:
    """One true person: ``params`` (each (T, D)) in the world frame (one ``betas`` row
    repeated), ``joints_3d`` (T, J, 3) and ``keypoints_3d`` (T, K, 3, zero rows for points the
    model lacks) in world metres, its clip and first frame, its standing ``stature`` (m)."""

    clip: str
    start: int
    params: BodyParams
    joints_3d: np.ndarray
    keypoints_3d: np.ndarray
    stature: float

    def moved(self, offset: np.ndarray) -> "PersonTruth":
        """The same person moved by ``offset`` (3,) metres."""
        transl = self.params.transl + torch.as_tensor(offset).to(self.params.transl)
        valid = np.any(self.keypoints_3d != 0, axis=(0, 2))[:, None]  # (K, 1): the model's points
        return PersonTruth(self.clip, self.start, dataclasses.replace(self.params, transl=transl),
                           self.joints_3d + offset, np.where(valid, self.keypoints_3d + offset, 0.0), self.stature)


@dataclass
class MultiViewCase:
    """One drawn case. ``people[0]`` is the subject, ``people[1]`` the background person when
    there is one. ``observed``: camera name -> per frame (P_t, K, 3) detections (x, y,
    confidence; zero rows unseen) in a shuffled order, pixels of the real (distorted) image;
    ``identities``: camera name -> per frame (P_t,) the true person of each row (-1: a false
    detection); ``jitter_px``: camera name -> (P,) each true person's white noise scale there."""

    case_id: str
    rig: CameraRig
    fps: float
    people: list[PersonTruth]
    observed: dict[str, list[np.ndarray]]
    identities: dict[str, list[np.ndarray]]
    jitter_px: dict[str, np.ndarray]

    subject = property(lambda self: self.people[0], doc="the main subject's truth")
    params = property(lambda self: self.people[0].params, doc="the subject's world parameters, each (T, D)")
    keypoints_3d = property(lambda self: self.people[0].keypoints_3d, doc="(T, K, 3) the subject's, world")
    joints_3d = property(lambda self: self.people[0].joints_3d, doc="(T, J, 3) the subject's, world")

    def __len__(self) -> int:
        return len(self.people[0].keypoints_3d)

    def track(self, camera: str, identity: int = 0) -> np.ndarray:
        """(T, K, 3) the rows of ``camera``'s detections that are the true person ``identity``
        (zero where it was not detected)."""
        out = np.zeros((len(self), self.keypoints_3d.shape[1], 3))
        for t, (rows, ids) in enumerate(zip(self.observed[camera], self.identities[camera])):
            if np.any(ids == identity):
                out[t] = rows[np.flatnonzero(ids == identity)[0]]
        return out

    def describe(self) -> dict:
        """JSON-ready description."""
        detections = [ids for name in self.rig.names for ids in self.identities[name]]
        return {"case_id": self.case_id, "frames": len(self), "fps": self.fps, "cameras": len(self.rig),
                "clips": [person.clip for person in self.people], "background": len(self.people) > 1,
                "false_detections": int(sum((ids < 0).sum() for ids in detections)),
                "distorted": [camera.name for camera in self.rig if camera.distorted]}


def look_at(center: np.ndarray, target: np.ndarray, roll_deg: float = 0.0) -> np.ndarray:
    """(3, 3) world-to-camera rotation (OpenCV axes; world Z up) of a camera at ``center`` (3,)
    looking at ``target`` (3,), rolled by ``roll_deg`` about its optical axis."""
    forward = np.asarray(target, dtype=np.float64) - center
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    if np.linalg.norm(right) < 1e-9:
        raise ValueError(f"a camera at {center} looks straight up or down at {target}")
    right /= np.linalg.norm(right)
    rotation = np.stack([right, np.cross(forward, right), forward])
    return Rotation.from_rotvec([0.0, 0.0, math.radians(roll_deg)]).as_matrix() @ rotation


def ring_angles(rng: np.random.Generator, count: int, min_separation_deg: float) -> np.ndarray:
    """(V,) angles (radians) on a circle, no two nearer than ``min_separation_deg``: the gaps
    are the least gap plus a uniform share (Dirichlet) of what is left, turned at random."""
    spare = 2 * math.pi - count * math.radians(min_separation_deg)
    if spare < 0:
        raise ValueError(f"{count} cameras cannot be {min_separation_deg} degrees apart on a ring")
    gaps = math.radians(min_separation_deg) + spare * rng.dirichlet(np.ones(count))
    return (rng.uniform(0.0, 2 * math.pi) + np.cumsum(gaps) - gaps[0]) % (2 * math.pi)


def _fitted_focal(focal: float, least: float, rotation: np.ndarray, translation: np.ndarray,
                  principal: np.ndarray, image_size: tuple[int, int], points: np.ndarray, fill: float) -> float:
    """``focal`` (px) lowered, not below ``least``, so that ``points`` (N, 3, world) span at most
    ``fill`` of the frame on each side of the principal point (2,)."""
    local = points @ rotation.T + translation
    normal = local[local[:, 2] > NEAREST][:, :2] / local[local[:, 2] > NEAREST][:, 2:]
    if len(normal) == 0:
        return focal
    size = np.array(image_size[::-1], dtype=np.float64)
    margin = 0.5 * (1.0 - fill) * size
    room = np.r_[principal - margin, size - margin - principal]   # left, top, right, bottom (px)
    extent = np.r_[-normal.min(0), normal.max(0)]                  # the same sides, normalised
    limits = room[extent > 0] / extent[extent > 0]
    return float(max(least, min(focal, limits.min()))) if len(limits) else focal


def draw_rig(rng: np.random.Generator, dist: MultiViewDistribution, count: int, target: np.ndarray,
             points: np.ndarray) -> CameraRig:
    """``count`` cameras ``cam01``... on a ring about ``target`` (3,), the subject's mean
    keypoint, aimed at it; focal lengths fitted to the subject's ``points`` (N, 3, world)."""
    cameras = []
    for index, angle in enumerate(ring_angles(rng, count, dist.min_separation_deg)):
        radius = rng.uniform(*dist.radius)
        center = np.array([target[0] + radius * math.cos(angle), target[1] + radius * math.sin(angle),
                           rng.uniform(*dist.height)])
        rotation = look_at(center, target + rng.uniform(-dist.aim_offset, dist.aim_offset, 3),
                           rng.uniform(*dist.roll_deg))
        translation = -rotation @ center
        height, width = dist.image_sizes[rng.integers(len(dist.image_sizes))]
        principal = 0.5 * np.array([width, height]) * (1 + rng.uniform(-1, 1, 2) * 2 * dist.principal_offset)
        per_mm = math.hypot(width, height) / FULL_FRAME_DIAGONAL_MM
        focal = math.exp(rng.uniform(*np.log(dist.focal_35mm))) * per_mm
        focal = _fitted_focal(focal, dist.focal_35mm[0] * per_mm, rotation, translation, principal,
                              (height, width), points, dist.max_fill)
        distortion = np.zeros(4)
        if dist.distortion and rng.random() < dist.distorted_share:
            distortion[0] = rng.uniform(*dist.k1)
        matrix = np.array([[focal, 0.0, principal[0]], [0.0, focal, principal[1]], [0.0, 0.0, 1.0]])
        cameras.append(Camera(f"cam{index + 1:02d}", (height, width), matrix, distortion, rotation, translation))
    return CameraRig(cameras)


def _image_points(camera: Camera, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixels (T, K, 2) of world ``points`` (T, K, 3) in the real image, ``_FAR`` where a point is
    behind the camera or well outside its view (where a lens model folds back), and the
    camera-frame points (T, K, 3)."""
    local = camera.to_camera(points)
    pinhole = local[..., :2] / np.maximum(local[..., 2:], 1e-6) @ camera.matrix[:2, :2].T + camera.matrix[:2, 2]
    height, width = camera.image_size
    near_view = ((local[..., 2] > NEAREST) & (np.abs(pinhole[..., 0] - width / 2) < width)
                 & (np.abs(pinhole[..., 1] - height / 2) < height))
    pixels = np.full(points.shape[:-1] + (2,), _FAR)
    pixels[near_view] = camera.project(points[near_view])
    return pixels, local


def hidden_behind(points: np.ndarray, occluder: np.ndarray, focal: float) -> np.ndarray:
    """(T, K) which camera-frame ``points`` (T, K, 3) are behind the body of ``occluder``
    (T, K', 3: its camera-frame keypoints): within a capsule about one of its BODY_25 bones in
    the pinhole image (radius ``_BONES``' metres at the bone's depth; ``focal`` px) and more
    than 0.1 m farther than that bone."""
    def image(x: np.ndarray) -> np.ndarray:
        return focal * x[..., :2] / np.maximum(x[..., 2:], 1e-6)

    ends_a, ends_b = occluder[:, _BONE_A], occluder[:, _BONE_B]                 # (T, B, 3)
    bone_depth = 0.5 * (ends_a[..., 2] + ends_b[..., 2])                        # (T, B)
    a, b = image(ends_a), image(ends_b)
    d = image(points)[:, :, None] - a[:, None]                                   # (T, K, B, 2)
    ab = (b - a)[:, None]
    share = np.clip((d * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-9), 0.0, 1.0)
    distance = np.linalg.norm(d - share[..., None] * ab, axis=-1)               # (T, K, B)
    radius = focal * _BONE_RADIUS / np.maximum(bone_depth, 1e-6)
    in_front = (ends_a[..., 2] > NEAREST) & (ends_b[..., 2] > NEAREST)
    behind = bone_depth[:, None] < points[..., 2:] - 0.1
    return ((distance < radius[:, None]) & behind & in_front[:, None]).any(-1)


def object_occlusion(rng: np.random.Generator, frames: int, points: int, rate: float,
                     lengths: tuple[int, int]) -> np.ndarray:
    """(T, K) with probability ``rate``, one limb (``_LIMBS``) hidden for a run of frames."""
    hidden = np.zeros((frames, points), dtype=bool)
    if rng.random() < rate:
        limb = _LIMBS[int(rng.integers(len(_LIMBS)))]
        start = int(rng.integers(frames))
        hidden[start:start + int(rng.integers(lengths[0], lengths[1] + 1)), limb[limb < points]] = True
    return hidden


def _scatter(rng: np.random.Generator, image_size: tuple[int, int], points: int) -> np.ndarray:
    """(K, 3) a false detection: 3-8 BODY_25 points anywhere in the image, confidence 0.05-0.3."""
    row, height, width = np.zeros((points, 3)), *image_size
    chosen = rng.choice(BODY.stop, size=int(rng.integers(3, 9)), replace=False)
    row[chosen] = np.column_stack([rng.uniform(0, width, len(chosen)), rng.uniform(0, height, len(chosen)),
                                   rng.uniform(0.05, 0.3, len(chosen))])
    return row


def _shuffled(rng: np.random.Generator, tracks: list[np.ndarray], false: list[list[np.ndarray]],
              min_points: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per frame the detections (P_t, K, 3) of the true people (``tracks``, each (T, K, 3); one
    with fewer than ``min_points`` BODY_25 points seen is not detected) and the false ones
    (``false``: per frame a list of (K, 3)) in a random order, and their identities (P_t,)."""
    points = tracks[0].shape[1]
    observed, identities = [], []
    for t in range(len(tracks[0])):
        rows = [(track[t], p) for p, track in enumerate(tracks) if (track[t, BODY, 2] > 0).sum() >= min_points]
        rows += [(row, -1) for row in false[t]]
        order = rng.permutation(len(rows))
        observed.append(np.array([rows[i][0] for i in order]).reshape(-1, points, 3))
        identities.append(np.array([rows[i][1] for i in order], dtype=np.int64))
    return observed, identities


class MultiViewGenerator:
    """Draws ``MultiViewCase``s of ``model`` under ``dist`` from ``dist.noise.split``'s clips."""

    def __init__(self, model: BodyModel, dist: MultiViewDistribution | None = None,
                 clips: list[MotionClip] | None = None) -> None:
        self.model, self.dist = model, dist or MultiViewDistribution()
        low, high = self.dist.cameras
        if not 1 <= low <= high:
            raise ValueError(f"cameras must be a range (low, high) with 1 <= low <= high, got {self.dist.cameras}")
        if self.dist.length < 1:
            raise ValueError(f"length must be at least 1 frame, got {self.dist.length}")
        self.sequences = SequenceGenerator(model, dataclasses.replace(self.dist.noise, length=self.dist.length), clips)
        self.valid = model.keypoint_valid.numpy()

    def person(self, rng: np.random.Generator, frames: int | None = None, exclude: str | None = None) -> PersonTruth:
        """A clip's motion (maybe mirrored, any heading) turned Z up, with a random shape, its
        pelvis's mean at the origin horizontally and its lowest vertex over the clip on the
        ground (the mesh is posed only in the ``LOWEST_FRAMES`` frames whose keypoints reach
        lowest). ``frames``: exactly this many (a short clip holds its last frame); ``exclude``:
        a clip not to draw where another can be drawn."""
        for _ in range(10):
            clip, start, poses, trans = self.sequences.draw_motion(rng)
            if clip.name != exclude:
                break
        if frames is not None:
            pad = max(0, frames - len(poses))
            poses, trans = (np.concatenate([x[:frames], np.repeat(x[-1:], pad, axis=0)]) for x in (poses, trans))
        clip_range = self.dist.noise.betas_clip
        betas = np.clip(rng.normal(size=self.model.num_betas), -clip_range, clip_range)
        params = camera_params(self.model, poses, trans, betas, Z_UP)  # world Z up, the corpus's place
        with torch.no_grad():
            joints, keypoints = (x.double().numpy() for x in self.model.keypoints(params))
            keypoints = np.where(self.valid[None, :, None], keypoints, 0.0)
            lowest = np.argsort(keypoints[:, self.valid, 2].min(1))[:LOWEST_FRAMES]
            posed = BodyParams(**{name: value[lowest] for name, value in params.as_dict().items()})
            ground = float(self.model(posed).vertices[..., 2].min())
        offset = np.r_[-joints[:, 0, :2].mean(0), -ground]
        person = PersonTruth(clip.name, start, params, joints, keypoints, stature(self.model, params.betas[:1]))
        return person.moved(offset)

    def background(self, rng: np.random.Generator, subject: PersonTruth, rig: CameraRig) -> PersonTruth | None:
        """Another clip's person ``background_distance`` from the subject's mean, its pelvis
        ``clearance`` from the subject's and from every camera in every frame (None when 20
        tries find no such place)."""
        dist = self.dist
        person = self.person(rng, len(subject.keypoints_3d), exclude=subject.clip)
        centre = subject.joints_3d[:, 0, :2].mean(0)
        cameras = np.array([camera.center[:2] for camera in rig])
        for _ in range(20):
            angle, distance = rng.uniform(0, 2 * math.pi), rng.uniform(*dist.background_distance)
            shift = centre + distance * np.array([math.cos(angle), math.sin(angle)])
            path = person.joints_3d[:, 0, :2] + shift                                     # (T, 2)
            near_subject = np.linalg.norm(path - subject.joints_3d[:, 0, :2], axis=-1).min()
            near_camera = np.linalg.norm(path[:, None] - cameras[None], axis=-1).min()
            if min(near_subject, near_camera) >= dist.clearance:
                return person.moved(np.r_[shift, 0.0])
        return None

    def observe(self, rng: np.random.Generator, camera: Camera,
                people: list[PersonTruth]) -> tuple[list[np.ndarray], np.ndarray]:
        """Each true person's detections (T, K, 3) by ``camera``, occlusions included, and
        their white noise scales (P,) px."""
        dist, focal = self.dist, float(camera.matrix[0, 0])
        tracks, jitters, local_points = [], [], []
        for person in people:
            pixels, local = _image_points(camera, person.keypoints_3d)
            depth = local[:, OPENPOSE["MidHip"], 2]
            depth = float(np.median(depth[depth > NEAREST])) if np.any(depth > NEAREST) else 1.0
            observed, jitter = observe_sequence(pixels, local, self.valid, camera.image_size,
                                                focal * person.stature / depth, rng, dist.noise)
            observed[object_occlusion(rng, *observed.shape[:2], dist.occlusion_rate, dist.occlusion_frames)] = 0.0
            tracks.append(observed)
            jitters.append(jitter)
            local_points.append(local)
        for index, local in enumerate(local_points):
            for other, occluder in enumerate(local_points):
                if other != index:
                    tracks[index][hidden_behind(local, occluder, focal)] = 0.0
        return tracks, np.array(jitters)

    def ghost_poses(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """(N, K, 3) keypoints of ``count`` random clip frames, each with its own heading,
        MidHip over the origin and lowest keypoint on the ground (a shape for them all)."""
        if count == 0:
            return np.zeros((0, self.model.num_keypoints, 3))
        clips = [self.sequences.clips[i] for i in rng.integers(len(self.sequences.clips), size=count)]
        poses = np.stack([clip.poses[rng.integers(len(clip.poses))] for clip in clips])
        clip_range = self.dist.noise.betas_clip
        betas = np.clip(rng.normal(size=self.model.num_betas), -clip_range, clip_range)
        params = camera_params(self.model, poses, np.zeros((count, 3)), betas, Z_UP)
        with torch.no_grad():
            keypoints = self.model.keypoints(params)[1].double().numpy()[:, self.valid]
        turns = Rotation.from_rotvec(np.outer(rng.uniform(0, 2 * math.pi, count), [0.0, 0.0, 1.0])).as_matrix()
        keypoints = np.einsum("nij,nkj->nki", turns, keypoints)
        keypoints[..., :2] -= keypoints[:, OPENPOSE["MidHip"], None, :2]
        keypoints[..., 2] -= keypoints[..., 2].min(1, keepdims=True)
        out = np.zeros((count, self.model.num_keypoints, 3))
        out[:, self.valid] = keypoints
        return out

    def ghost(self, rng: np.random.Generator, camera: Camera, keypoints: np.ndarray) -> np.ndarray | None:
        """(K, 3) a detection of ``keypoints`` (K, 3, standing over the origin) placed 2.5-8 m
        away in ``camera``'s view, confidences lowered; None when too little of it is seen."""
        height, width = camera.image_size
        ray = camera.rotation.T @ np.linalg.solve(camera.matrix, [rng.uniform(0.15, 0.85) * width, height / 2, 1.0])
        place = camera.center[:2] + rng.uniform(2.5, 8.0) * ray[:2] / np.linalg.norm(ray[:2])
        points = np.where(self.valid[:, None], keypoints + np.r_[place, 0.0], 0.0)
        pixels, local = _image_points(camera, points[None])
        depth = max(float(local[0, OPENPOSE["MidHip"], 2]), NEAREST)
        observed = observe_sequence(pixels, local, self.valid, camera.image_size, camera.matrix[1, 1] * GHOST_STATURE / depth,
                                    rng, self.dist.noise)[0][0]
        observed[:, 2] *= rng.uniform(0.4, 0.9)
        return observed if (observed[BODY, 2] > 0).sum() >= self.dist.min_points else None

    def false_detections(self, rng: np.random.Generator, rig: CameraRig, frames: int) -> dict[str, list[list[np.ndarray]]]:
        """Camera name -> per frame its false detections (each (K, 3)): with ``false_rate`` per
        camera and frame, scattered points or (``ghost_share``) another pose in its view."""
        dist = self.dist
        events = [(camera, int(t), bool(rng.random() < dist.ghost_share))
                  for camera in rig for t in np.flatnonzero(rng.random(frames) < dist.false_rate)]
        ghosts = iter(self.ghost_poses(rng, sum(ghost for _, _, ghost in events)))
        out: dict[str, list[list[np.ndarray]]] = {name: [[] for _ in range(frames)] for name in rig.names}
        for camera, t, ghost in events:
            row = self.ghost(rng, camera, next(ghosts)) if ghost else _scatter(rng, camera.image_size,
                                                                                self.model.num_keypoints)
            if row is not None:
                out[camera.name][t].append(row)
        return out

    def sample(self, rng: np.random.Generator, case_id: str, cameras: int | None = None) -> MultiViewCase:
        """One case (see the module docstring); ``cameras`` fixes V."""
        dist = self.dist
        count = int(rng.integers(dist.cameras[0], dist.cameras[1] + 1)) if cameras is None else cameras
        subject = self.person(rng).moved(np.r_[rng.uniform(-dist.placement, dist.placement, 2), 0.0])
        body = subject.keypoints_3d[:, np.flatnonzero(self.valid[BODY])]
        rig = draw_rig(rng, dist, count, body.mean((0, 1)), body[::2].reshape(-1, 3))
        people = [subject]
        if rng.random() < dist.background_share:
            background = self.background(rng, subject, rig)
            people += [background] if background is not None else []
        false = self.false_detections(rng, rig, len(subject.keypoints_3d))
        observed, identities, jitter = {}, {}, {}
        for camera in rig:
            tracks, jitter[camera.name] = self.observe(rng, camera, people)
            observed[camera.name], identities[camera.name] = _shuffled(rng, tracks, false[camera.name], dist.min_points)
        fps = next(clip.fps for clip in self.sequences.clips if clip.name == subject.clip)
        return MultiViewCase(case_id, rig, fps, people, observed, identities, jitter)


def make_multiview_cases(model: BodyModel, count: int, seed: int, dist: MultiViewDistribution | None = None,
                         cameras: int | None = None) -> list[MultiViewCase]:
    """``count`` cases drawn with ``numpy.random.default_rng(seed)``: the same seed, the same
    cases. ``cameras`` fixes V (else drawn from ``dist.cameras``)."""
    if count < 0:
        raise ValueError(f"count must be at least 0, got {count}")
    if cameras is not None and cameras < 1:
        raise ValueError(f"cameras must be at least 1, got {cameras}")
    generator, rng = MultiViewGenerator(model, dist), np.random.default_rng(seed)
    return [generator.sample(rng, f"mv_{index:03d}", cameras) for index in range(count)]
