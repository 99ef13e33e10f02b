"""Video-like fitting cases: a motion-corpus clip seen by one fixed camera, with per-frame
keypoint detections whose errors behave like a real detector's over time.

A sequence takes ``length`` consecutive frames of a clip (30 fps), turns the whole motion to
a random heading (maybe mirrored), gives it one random shape, and films it with one camera
drawn as ``motion.cases`` draws a photo's (phone to tele lens, pitch and roll), placed so the
box of the whole motion fills ``fill`` of the frame. Each frame's detections:

- jitter: white noise per point and frame, sigma ``jitter`` x the body's height in pixels,
  scaled per point and frame by (0.5 + q), q ~ U(0, 1), with confidence 1 - 0.7 q (noisier
  points less confident, as ``motion.cases.observe``); hands and face ``detail_noise_factor``
  times more;
- drift: a slowly wandering offset per point (AR(1), correlation ``drift_correlation`` per
  frame, stationary sigma ``drift`` x height): a detector's systematic error that a
  smoother cannot and should not remove;
- dropouts lasting a few frames: a point goes missing with probability ``dropout_rate`` per
  frame for 1..``dropout_frames`` frames; each hand is missing for the whole sequence with
  ``hand_missing``; face points are unseen in frames where the face turns away;
- left-right swaps: in a frame, with ``swap_rate``, one limb's left and right points trade
  places (knees and ankles, or elbows and wrists), as detectors confuse them;
- points outside the image are unseen.

Frames and parameters as in ``motion.cases``: the camera frame is OpenCV's, each frame's
parameters place the body directly in it.

Shapes: T frames, K keypoints (``fileio.keypoint_layout``), J skeleton joints, V vertices.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.spatial import ConvexHull
from scipy.spatial.transform import Rotation

from bodyfit.bodymodels.layer import BodyModel, BodyParams
from bodyfit.fileio.keypoint_layout import BODY, FACE, LEFT_HAND, OPENPOSE, RIGHT_HAND
from bodyfit.geometry import project_numpy
from bodyfit.motion.cases import (FACE_POINTS, Camera, CaseDistribution, draw_camera, inside_image, place_body,
                                  stature)
from bodyfit.motion.corpus import MotionClip, load_corpus, mirror_body_pose, mirror_trans

SWAP_PAIRS = ((("RKnee", "LKnee"), ("RAnkle", "LAnkle"), ("RHeel", "LHeel"), ("RBigToe", "LBigToe")),
              (("RElbow", "LElbow"), ("RWrist", "LWrist")))


@dataclass(frozen=True)
class SequenceDistribution:
    """What a sequence is drawn from; ranges are (low, high) of uniform draws."""

    split: str = "heldout"
    length: int = 60                          # frames (2 s at 30 fps); a shorter clip gives all it has
    camera: CaseDistribution = field(default_factory=CaseDistribution)  # lens, pitch, roll, image sizes
    fill: tuple[float, float] = (0.4, 0.8)    # the whole motion's box over the frame, tighter axis
    mirror_share: float = 0.5
    betas_clip: float = 2.0
    jitter: tuple[float, float] = (0.008, 0.016)     # white noise sigma over the body's height
    drift: tuple[float, float] = (0.004, 0.008)      # slow per-point offset sigma over the height
    drift_correlation: float = 0.9
    detail_noise_factor: tuple[float, float] = (2.0, 3.0)
    min_confidence: float = 0.3
    dropout_rate: tuple[float, float] = (0.01, 0.04)  # per point and frame: a dropout starts
    dropout_frames: int = 6                   # a dropout lasts 1..this many frames
    hand_missing: float = 0.35
    swap_rate: float = 0.02                   # per frame: one limb's left and right points swap


@dataclass
class SequenceCase:
    """One drawn sequence. ``params`` (each (T, D)) place the body in the camera frame per
    frame (one ``betas`` row repeated); ``joints_3d`` (T, J, 3), ``keypoints_3d`` (T, K, 3)
    the truth (metres); ``keypoints_2d`` (T, K, 2) its noise-free projection; ``observed``
    (T, K, 3) the detections (zero rows unseen); ``body_height_px`` the standing height in
    pixels at the mean depth; ``jitter_px`` the white noise scale of the body points."""

    case_id: str
    clip: str
    start: int
    fps: float
    params: BodyParams
    joints_3d: np.ndarray
    keypoints_3d: np.ndarray
    keypoints_2d: np.ndarray
    observed: np.ndarray
    camera: Camera
    body_height_px: float
    jitter_px: float

    intrinsics = property(lambda self: self.camera.intrinsics, doc="(4,) fx, fy, cx, cy")
    image_size = property(lambda self: self.camera.image_size, doc="(height, width)")

    def __len__(self) -> int:
        return len(self.observed)

    def describe(self) -> dict:
        """JSON-ready description."""
        cam = self.camera
        return {"case_id": self.case_id, "clip": self.clip, "start": self.start, "frames": len(self),
                "fps": self.fps, "body_height_px": self.body_height_px, "jitter_px": self.jitter_px,
                "image_size": list(cam.image_size), "focal_35mm": cam.focal_35mm, "pitch_deg": cam.pitch_deg}


def _turned_motion(clip: MotionClip, start: int, length: int, heading: float,
                   mirrored: bool) -> tuple[np.ndarray, np.ndarray]:
    """Poses (T, 66) and translations (T, 3) of the clip's frames [start, start + length)
    mirrored (maybe), turned by ``heading`` about the vertical, translation centred on its
    first frame horizontally."""
    poses, trans = clip.poses[start:start + length].copy(), clip.trans[start:start + length].copy()
    if mirrored:
        poses, trans = mirror_body_pose(poses), mirror_trans(trans)
    turn = Rotation.from_rotvec([0.0, heading, 0.0])
    poses[:, :3] = (turn * Rotation.from_rotvec(poses[:, :3])).as_rotvec()
    trans = turn.apply(trans - trans[:1] * np.array([1.0, 0.0, 1.0]))
    return poses, trans


def camera_params(model: BodyModel, poses: np.ndarray, trans: np.ndarray, betas: np.ndarray,
                   rotation: np.ndarray) -> BodyParams:
    """Parameters (T, D) of world-frame ``poses`` (T, 66) and ``trans`` (T, 3) seen by a
    camera with camera-from-world ``rotation`` (3, 3) at the origin: the root turns about the
    pelvis joint J0, so the camera-frame translation is R (J0 + trans) - J0."""
    count = len(poses)
    params = model.zero_params(count)
    params.betas[:, :len(betas)] = torch.as_tensor(betas, dtype=params.betas.dtype)
    with torch.no_grad():
        root = model.keypoints(model.rest_params(params.betas[:1]))[0][0, 0].double().numpy()  # J0 of this shape
    camera = Rotation.from_matrix(rotation)
    params.global_orient[:] = torch.as_tensor((camera * Rotation.from_rotvec(poses[:, :3])).as_rotvec())
    params.body_pose[:] = torch.as_tensor(poses[:, 3:])
    params.transl[:] = torch.as_tensor((root + trans) @ rotation.T - root)
    return params


class SequenceGenerator:
    """Draws ``SequenceCase``s of ``model`` from the ``dist.split`` clips."""

    def __init__(self, model: BodyModel, dist: SequenceDistribution | None = None,
                 clips: list[MotionClip] | None = None) -> None:
        self.model, self.dist = model, dist or SequenceDistribution()
        self.clips = clips if clips is not None else load_corpus(self.dist.split)
        if not self.clips:
            raise ValueError(f"no clips in split {self.dist.split!r}")
        lengths = np.array([len(clip.poses) for clip in self.clips], dtype=np.float64)
        self.weights = lengths / lengths.sum()  # long clips give more sequences

    def draw_motion(self, rng: np.random.Generator) -> tuple[MotionClip, int, np.ndarray, np.ndarray]:
        """A clip, the first frame, and the turned (maybe mirrored) poses (T, 66) and
        translations (T, 3)."""
        clip = self.clips[int(rng.choice(len(self.clips), p=self.weights))]
        length = min(self.dist.length, len(clip.poses))
        start = int(rng.integers(0, len(clip.poses) - length + 1))
        poses, trans = _turned_motion(clip, start, length, float(rng.uniform(0, 2 * math.pi)),
                                      bool(rng.random() < self.dist.mirror_share))
        return clip, start, poses, trans

    def stature(self, params: BodyParams) -> float:
        return stature(self.model, params.betas[:1])

    def place(self, rng: np.random.Generator, vertices: np.ndarray, camera: Camera) -> np.ndarray:
        """(3,) the offset that puts the whole motion (``vertices`` (T, V, 3), camera frame)
        in view: its box centred, filling a drawn share of the frame."""
        points = vertices[:, ::8].reshape(-1, 3)
        points = points[ConvexHull(points).vertices]
        offset, _ = place_body(points, camera.intrinsics, camera.image_size, float(rng.uniform(*self.dist.fill)),
                               camera.intrinsics[2:], self.dist.camera.min_distance)
        return offset

    def sample(self, rng: np.random.Generator, case_id: str) -> SequenceCase:
        """One sequence (see the module docstring)."""
        dist = self.dist
        clip, start, poses, trans = self.draw_motion(rng)
        camera = draw_camera(rng, dist.camera)
        betas = np.clip(rng.normal(size=self.model.num_betas), -dist.betas_clip, dist.betas_clip)
        params = camera_params(self.model, poses, trans, betas, camera.rotation)
        with torch.no_grad():
            output = self.model(params)
        vertices = output.vertices.double().numpy()
        offset = self.place(rng, vertices, camera)
        params.transl += torch.as_tensor(offset, dtype=params.transl.dtype)
        valid = self.model.keypoint_valid.numpy()
        joints = output.joints.double().numpy() + offset
        keypoints = np.where(valid[None, :, None], output.keypoints.double().numpy() + offset, 0.0)
        keypoints_2d = np.zeros(keypoints.shape[:2] + (2,))
        for t in range(len(keypoints)):
            keypoints_2d[t, valid] = project_numpy(keypoints[t, valid], camera.intrinsics)
        depth = float(keypoints[:, OPENPOSE["MidHip"], 2].mean())
        height_px = float(camera.intrinsics[1] * self.stature(params) / depth)
        observed, jitter = observe_sequence(keypoints_2d, keypoints, valid, camera.image_size, height_px, rng, dist)
        return SequenceCase(case_id, clip.name, start, clip.fps, params, joints, keypoints, keypoints_2d,
                            observed, camera, height_px, jitter)


def _dropouts(rng: np.random.Generator, frames: int, points: int, rate: float, longest: int) -> np.ndarray:
    """(T, K) bool: bursts of 1..``longest`` frames starting with probability ``rate``."""
    unseen = np.zeros((frames, points), dtype=bool)
    for t, k in zip(*np.nonzero(rng.random((frames, points)) < rate)):
        unseen[t:t + int(rng.integers(1, longest + 1)), k] = True
    return unseen


def _drift(rng: np.random.Generator, frames: int, points: int, sigma: np.ndarray, correlation: float) -> np.ndarray:
    """(T, K, 2) AR(1) offsets with stationary sigma ``sigma`` (K,) per point."""
    innovation = np.sqrt(1.0 - correlation ** 2)
    out = np.zeros((frames, points, 2))
    out[0] = rng.normal(size=(points, 2)) * sigma[:, None]
    for t in range(1, frames):
        out[t] = correlation * out[t - 1] + innovation * rng.normal(size=(points, 2)) * sigma[:, None]
    return out


def _swap_limbs(rng: np.random.Generator, noisy: np.ndarray, rate: float) -> None:
    """Swaps one limb's left and right points in place in frames drawn with ``rate``."""
    for t in np.flatnonzero(rng.random(len(noisy)) < rate):
        for right, left in SWAP_PAIRS[int(rng.integers(len(SWAP_PAIRS)))]:
            a, b = OPENPOSE[right], OPENPOSE[left]
            noisy[t, [a, b]] = noisy[t, [b, a]]


def _face_turned_away(keypoints_3d: np.ndarray) -> np.ndarray:
    """(T,) per frame: the nose points away from the camera, seen from between the ears."""
    ears = 0.5 * (keypoints_3d[:, OPENPOSE["REar"]] + keypoints_3d[:, OPENPOSE["LEar"]])
    forward = keypoints_3d[:, OPENPOSE["Nose"]] - ears
    return (forward * -ears).sum(-1) < 0.0


def observe_sequence(keypoints_2d: np.ndarray, keypoints_3d: np.ndarray, valid: np.ndarray,
                     image_size: tuple[int, int], body_height_px: float, rng: np.random.Generator,
                     dist: SequenceDistribution) -> tuple[np.ndarray, float]:
    """Detections (T, K, 3) of noise-free keypoints (T, K, 2) (camera-frame ``keypoints_3d``
    (T, K, 3) decide when the face is turned away; ``valid`` (K,) the points the model has),
    and the body points' white noise scale (px). See the module docstring."""
    if keypoints_2d.ndim != 3 or keypoints_2d.shape[-1] != 2:
        raise ValueError(f"keypoints_2d must be (T, K, 2), got {keypoints_2d.shape}")
    frames, points = keypoints_2d.shape[:2]
    scale = np.ones(points)
    detail = np.r_[np.arange(LEFT_HAND.start, RIGHT_HAND.stop), np.arange(FACE.start, FACE.stop)]
    scale[detail[detail < points]] = rng.uniform(*dist.detail_noise_factor)  # BODY_25 alone has none
    jitter = float(rng.uniform(*dist.jitter)) * body_height_px
    quality = rng.random((frames, points))
    noisy = keypoints_2d + rng.normal(size=(frames, points, 2)) * (jitter * scale * (0.5 + quality))[..., None]
    noisy += _drift(rng, frames, points, float(rng.uniform(*dist.drift)) * body_height_px * scale,
                    dist.drift_correlation)
    _swap_limbs(rng, noisy[:, BODY], dist.swap_rate)
    confidence = 1.0 - (1.0 - dist.min_confidence) * quality
    unseen = ~valid[None] | _dropouts(rng, frames, points, float(rng.uniform(*dist.dropout_rate)), dist.dropout_frames)
    for hand in (LEFT_HAND, RIGHT_HAND):
        if rng.random() < dist.hand_missing:
            unseen[:, hand] = True
    unseen[np.ix_(_face_turned_away(keypoints_3d), FACE_POINTS[FACE_POINTS < points])] = True
    for t in range(frames):
        unseen[t] |= ~inside_image(keypoints_2d[t], image_size) | ~inside_image(noisy[t], image_size)
    observed = np.concatenate([noisy, confidence[..., None]], axis=-1)
    observed[unseen] = 0.0
    return observed, jitter


def make_sequences(model: BodyModel, count: int, seed: int,
                   dist: SequenceDistribution | None = None) -> list[SequenceCase]:
    """``count`` sequences drawn with ``numpy.random.default_rng(seed)``: the same seed, the
    same sequences."""
    if count < 0:
        raise ValueError(f"count must be at least 0, got {count}")
    generator, rng = SequenceGenerator(model, dist), np.random.default_rng(seed)
    return [generator.sample(rng, f"seq_{index:03d}") for index in range(count)]
