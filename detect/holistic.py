"""Keypoint detection with MediaPipe holistic: find each person, detect body, hands and face
on a crop around them, re-detect hands on crops around the wrists, map to OpenPose.

MediaPipe's holistic model sees one person per call. People are found one after another:
holistic runs on the whole image, the person it found is painted over, and it runs again.
Coordinates are pixels of the full image: x right, y down.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field, replace

import numpy as np
from PIL import Image

from detect import mediapipe_map
from detect.config import DetectConfig
from fileio.openpose_json import PersonKeypoints

LEFT_WRIST, RIGHT_WRIST, LEFT_ELBOW, RIGHT_ELBOW = 15, 16, 13, 14


class DetectorUnavailable(RuntimeError):
    """MediaPipe is not installed."""


def import_mediapipe():
    """The ``mediapipe`` module, or ``DetectorUnavailable`` saying how to install it."""
    os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ start-up chatter
    warnings.filterwarnings("ignore", message=r"SymbolDatabase\.GetPrototype\(\) is deprecated")
    try:
        import mediapipe
    except ImportError as error:
        raise DetectorUnavailable(
            "keypoint detection needs MediaPipe 0.10.14: pip install -e '.[detect]' "
            f"(or pass --keypoints with OpenPose files); import failed: {error}") from error
    return mediapipe


@dataclass
class Landmarks:
    """One person's MediaPipe landmarks in full-image pixels: ``pose`` (33, 3) of x, y,
    visibility; ``face`` (478, 2) or (468, 2); hands (21, 2); ``None`` where not found."""

    pose: np.ndarray
    face: np.ndarray | None = None
    left_hand: np.ndarray | None = None
    right_hand: np.ndarray | None = None
    hand_sources: dict[str, str] = field(default_factory=dict)


@dataclass
class Detection:
    """A detected person: OpenPose keypoints, the person's box (x0, y0, x1, y1) and where
    each hand came from ("crop", "holistic" or "none")."""

    keypoints: PersonKeypoints
    box: tuple[float, float, float, float]
    hand_sources: dict[str, str]


@dataclass
class Crop:
    """A square window of an image, upscaled: crop pixel = (image pixel - origin) x scale."""

    pixels: np.ndarray
    origin: np.ndarray
    scale: float

    def to_image(self, normalized: np.ndarray) -> np.ndarray:
        """Landmarks normalised to the crop (N, 2) -> image pixels (N, 2)."""
        size = np.array([self.pixels.shape[1], self.pixels.shape[0]], float)
        return normalized * size / self.scale + self.origin


def square_crop(image: np.ndarray, centre: np.ndarray, side: float, min_side: int) -> Crop:
    """The ``side`` x ``side`` window around ``centre``, padded with the image's mean colour
    where it leaves the image, upscaled so that its side is at least ``min_side``."""
    side = max(float(side), 2.0)
    origin = np.round(np.asarray(centre, float) - side / 2)
    size = int(np.ceil(side))
    height, width = image.shape[:2]
    window = np.empty((size, size, 3), np.uint8)
    window[:] = image.reshape(-1, 3).mean(axis=0).astype(np.uint8)
    x0, y0 = int(origin[0]), int(origin[1])
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + size, width), min(y0 + size, height)
    if sx1 > sx0 and sy1 > sy0:
        window[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = image[sy0:sy1, sx0:sx1]
    scale = max(1.0, min_side / size)
    if scale > 1.0:
        target = int(round(size * scale))
        window = np.asarray(Image.fromarray(window).resize((target, target), Image.BILINEAR))
        scale = target / size
    return Crop(np.ascontiguousarray(window), origin, scale)


def landmark_box(landmarks: Landmarks, threshold: float) -> np.ndarray:
    """(x0, y0, x1, y1) around the visible pose landmarks and the face."""
    points = [landmarks.pose[landmarks.pose[:, 2] > threshold, :2]]
    if landmarks.face is not None:
        points.append(landmarks.face[:, :2])
    stacked = np.concatenate(points)
    if not len(stacked):
        stacked = landmarks.pose[:, :2]
    return np.concatenate([stacked.min(axis=0), stacked.max(axis=0)])


def grow(box: np.ndarray, margin: float) -> np.ndarray:
    """``box`` grown on every side by ``margin`` times its size."""
    extent = box[2:] - box[:2]
    return np.concatenate([box[:2] - margin * extent, box[2:] + margin * extent])


def overlap_fraction(box: np.ndarray, other: np.ndarray) -> float:
    """The fraction of ``box``'s area that lies inside ``other``."""
    inner = np.clip(np.minimum(box[2:], other[2:]) - np.maximum(box[:2], other[:2]), 0, None)
    area = np.prod(np.clip(box[2:] - box[:2], 1e-9, None))
    return float(np.prod(inner) / area)


def paint(image: np.ndarray, box: np.ndarray, color: np.ndarray, keep: np.ndarray | None = None) -> None:
    """Fill ``box`` of ``image`` with ``color`` in place, leaving the ``keep`` box untouched."""
    height, width = image.shape[:2]
    x0, y0 = np.clip(np.floor(box[:2]), 0, [width, height]).astype(int)
    x1, y1 = np.clip(np.ceil(box[2:]), 0, [width, height]).astype(int)
    saved = None
    if keep is not None:
        k0, l0 = np.clip(np.floor(keep[:2]), 0, [width, height]).astype(int)
        k1, l1 = np.clip(np.ceil(keep[2:]), 0, [width, height]).astype(int)
        saved = (l0, l1, k0, k1, image[l0:l1, k0:k1].copy())
    image[y0:y1, x0:x1] = color
    if saved is not None:
        l0, l1, k0, k1, pixels = saved
        image[l0:l1, k0:k1] = pixels


class HolisticDetector:
    """MediaPipe holistic and hand models, reused across images. Use as a context manager
    or call ``close``."""

    def __init__(self, config: DetectConfig | None = None) -> None:
        self.config = config or DetectConfig()
        mediapipe = import_mediapipe()
        solutions = mediapipe.solutions
        self._holistic = solutions.holistic.Holistic(
            static_image_mode=True, model_complexity=self.config.model_complexity,
            refine_face_landmarks=self.config.refine_face_landmarks,
            min_detection_confidence=self.config.min_detection_confidence)
        self._hands = solutions.hands.Hands(
            static_image_mode=True, max_num_hands=2,
            min_detection_confidence=self.config.hand_min_detection_confidence)

    def close(self) -> None:
        self._holistic.close()
        self._hands.close()

    def __enter__(self) -> "HolisticDetector":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- one call of each model ---------------------------------------------------------

    def _holistic_on(self, crop: Crop) -> Landmarks | None:
        result = self._holistic.process(crop.pixels)
        if result.pose_landmarks is None:
            return None

        def points(group) -> np.ndarray | None:
            if group is None:
                return None
            return crop.to_image(np.array([(p.x, p.y) for p in group.landmark]))

        visibility = np.array([p.visibility for p in result.pose_landmarks.landmark])
        pose = np.concatenate([points(result.pose_landmarks), visibility[:, None]], axis=1)
        return Landmarks(pose, points(result.face_landmarks), points(result.left_hand_landmarks),
                         points(result.right_hand_landmarks))

    def _hands_on(self, crop: Crop) -> list[np.ndarray]:
        result = self._hands.process(crop.pixels)
        return [crop.to_image(np.array([(p.x, p.y) for p in hand.landmark]))
                for hand in (result.multi_hand_landmarks or [])]

    # -- the stages ---------------------------------------------------------------------

    def find_people(self, image: np.ndarray) -> list[Landmarks]:
        """Everyone holistic finds, painting each found person over before the next call."""
        config = self.config
        work = image.copy()
        fill = image.reshape(-1, 3).mean(axis=0).astype(np.uint8)
        people: list[Landmarks] = []
        boxes: list[np.ndarray] = []
        for _ in range(config.max_people):
            found = self._holistic_on(Crop(np.ascontiguousarray(work), np.zeros(2), 1.0))
            if found is None or (found.pose[:, 2] > config.visibility_threshold).sum() < config.min_visible_landmarks:
                break
            # Painted over: every pose landmark, seen or guessed, so that no part of this
            # person is found again as someone else.
            box = landmark_box(found, -1.0)
            if any(overlap_fraction(box, earlier) > 1 - config.min_new_area for earlier in boxes):
                break  # the same person again, through the paint
            people.append(found)
            boxes.append(box)
            paint(work, grow(box, config.mask_margin), fill)
        return people

    def refine_person(self, image: np.ndarray, person: Landmarks, others: list[np.ndarray]) -> Landmarks:
        """Holistic again on a square crop around ``person``, the ``others`` boxes painted
        over; the first detection is kept when the crop finds nobody."""
        config = self.config
        box = landmark_box(person, config.visibility_threshold)
        work = image
        if others:
            work = image.copy()
            fill = image.reshape(-1, 3).mean(axis=0).astype(np.uint8)
            for other in others:
                paint(work, grow(other, config.mask_margin), fill, keep=box)
        side = (box[2:] - box[:2]).max() * (1 + 2 * config.person_margin)
        crop = square_crop(work, (box[:2] + box[2:]) / 2, side, config.person_min_side)
        refined = self._holistic_on(crop)
        if refined is None:
            return person
        box_refined = landmark_box(refined, config.visibility_threshold)
        if overlap_fraction(box_refined, grow(box, 0.5)) < 0.5:
            return person  # the crop found someone else
        for name in ("face", "left_hand", "right_hand"):
            if getattr(refined, name) is None and getattr(person, name) is not None:
                setattr(refined, name, getattr(person, name))
        return refined

    def refine_hands(self, image: np.ndarray, person: Landmarks) -> Landmarks:
        """Each hand from the hand model on a crop around its wrist when that finds a hand
        whose wrist is near the pose model's wrist, else holistic's hand if its wrist is,
        else none."""
        config = self.config
        updated = replace(person, hand_sources={})
        height, width = image.shape[:2]
        for name, wrist_id, elbow_id in (("left_hand", LEFT_WRIST, LEFT_ELBOW), ("right_hand", RIGHT_WRIST, RIGHT_ELBOW)):
            wrist, elbow = person.pose[wrist_id, :2], person.pose[elbow_id, :2]
            forearm = float(np.linalg.norm(wrist - elbow))
            holistic_hand = getattr(person, name)
            inside = 0 <= wrist[0] < width and 0 <= wrist[1] < height
            side = max(config.hand_crop_scale * forearm, 8.0)
            limit = config.hand_max_wrist_offset * side

            def near(hand: np.ndarray | None, wrist=wrist, limit=limit) -> bool:
                return hand is not None and float(np.linalg.norm(hand[0] - wrist)) < limit

            chosen, source = None, "none"
            if config.hand_crops and inside and forearm >= 4.0:
                centre = wrist + config.hand_crop_offset * (wrist - elbow)
                candidates = self._hands_on(square_crop(image, centre, side, config.hand_min_side))
                if candidates:
                    best = min(candidates, key=lambda hand: float(np.linalg.norm(hand[0] - wrist)))
                    if near(best):
                        chosen, source = best, "crop"
            if chosen is None and near(holistic_hand):
                chosen, source = holistic_hand, "holistic"
            setattr(updated, name, chosen)
            updated.hand_sources[name] = source
        return updated

    def to_openpose(self, person: Landmarks, image_size: tuple[int, int]) -> PersonKeypoints:
        """OpenPose keypoints; points outside the image get confidence 0."""
        config = self.config
        parts = [mediapipe_map.body25(person.pose),
                 mediapipe_map.hand21(person.left_hand, config.hand_confidence),
                 mediapipe_map.hand21(person.right_hand, config.hand_confidence),
                 mediapipe_map.face70(person.face, config.face_confidence)]
        height, width = image_size
        for part in parts:
            outside = (part[:, 0] < 0) | (part[:, 0] >= width) | (part[:, 1] < 0) | (part[:, 1] >= height)
            part[outside] = 0.0
        return PersonKeypoints(*parts)

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Every person found in ``image`` (H, W, 3) RGB uint8, in the order found (the most
        prominent first)."""
        people = self.find_people(image)
        boxes = [landmark_box(p, self.config.visibility_threshold) for p in people]
        detections = []
        for index, person in enumerate(people):
            others = boxes[:index] + boxes[index + 1:]
            person = self.refine_hands(image, self.refine_person(image, person, others))
            box = landmark_box(person, self.config.visibility_threshold)
            detections.append(Detection(self.to_openpose(person, image.shape[:2]),
                                        tuple(float(v) for v in box), dict(person.hand_sources)))
        return detections
