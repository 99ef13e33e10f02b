"""Keypoint detection with MediaPipe holistic: find each person, detect body, hands and face
on a crop around them, re-detect hands on crops around the wrists, map to OpenPose.

MediaPipe's holistic model sees one person per call, so people are found first
(``detect/finder.py``: proposals from face, pose and HOG detectors on tiles, each confirmed by
the pose model, then holistic with everyone found painted over), then each person is detected
on a crop of their own with the others painted over. Coordinates are pixels of the full image:
x right, y down.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, replace

import numpy as np

from bodyfit.detect import mediapipe_map
from bodyfit.detect.config import DetectConfig
from bodyfit.detect.crops import (Crop, box_window, clip_box, grow, head_window, mean_color,  # noqa: F401
                          overlap_fraction, paint, square_crop)
from bodyfit.detect.finder import PersonFinder
from bodyfit.detect.landmarks import Landmarks, head_box, landmark_box
from bodyfit.fileio.openpose_json import PersonKeypoints

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
class Detection:
    """A detected person: OpenPose keypoints, the person's box (x0, y0, x1, y1) and where
    each hand came from ("crop", "holistic" or "none")."""

    keypoints: PersonKeypoints
    box: tuple[float, float, float, float]
    hand_sources: dict[str, str]


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
        self.finder = PersonFinder(self.config, self._holistic_on, mediapipe)

    def close(self) -> None:
        self._holistic.close()
        self._hands.close()
        self.finder.close()

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
        """Everyone found in ``image`` (see ``detect/finder.py``), the first landmarks of each."""
        return self.finder.find(image)

    def refine_person(self, image: np.ndarray, person: Landmarks, others: list[np.ndarray]) -> Landmarks:
        """Holistic again on a square crop around ``person`` (all their pose landmarks, seen or
        guessed, within the image: a person the finder saw in part is cropped whole), the
        ``others`` boxes painted over, then, when that finds nobody or somebody else, on a crop
        around their head and shoulders; the first detection is kept when neither finds them."""
        config = self.config
        height, width = image.shape[:2]
        box = landmark_box(person, config.visibility_threshold)
        work = image
        if others:
            work, fill = image.copy(), mean_color(image)
            for other in others:
                paint(work, grow(other, config.mask_margin), fill, keep=box)
        whole = clip_box(landmark_box(person, -1.0), height, width)
        whole = np.concatenate([np.minimum(whole[:2], box[:2]), np.maximum(whole[2:], box[2:])])
        windows = [box_window(whole, config.person_margin)]
        head = head_box(person, config.visibility_threshold)
        if head is not None:
            windows += [head_window(head, heads) for heads in config.head_windows]
        for centre, side in windows:
            refined = self._holistic_on(square_crop(work, centre, side, config.person_min_side))
            if refined is None or refined.visible(config.visibility_threshold) < config.min_visible_landmarks:
                continue
            if not self.finder.same(refined, person):
                continue  # the crop found someone else
            for name in ("face", "left_hand", "right_hand"):
                if getattr(refined, name) is None and getattr(person, name) is not None:
                    setattr(refined, name, getattr(person, name))
            return refined
        return person

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
        """Every person found in ``image`` (H, W, 3) RGB uint8, in the order found (confirmed
        proposals best first, then the masking pass's finds); no two are one person."""
        people = self.find_people(image)
        boxes = [landmark_box(p, self.config.visibility_threshold) for p in people]
        refined: list[Landmarks] = []
        for index, person in enumerate(people):
            others = boxes[:index] + boxes[index + 1:]
            person = self.refine_hands(image, self.refine_person(image, person, others))
            if not any(self.finder.same(person, earlier) for earlier in refined):
                refined.append(person)
        return [Detection(self.to_openpose(person, image.shape[:2]),
                          tuple(float(v) for v in landmark_box(person, self.config.visibility_threshold)),
                          dict(person.hand_sources)) for person in refined]
