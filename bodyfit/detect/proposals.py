"""Person proposals: where people may be, before the landmark models run on each.

Three detectors whose weights ship inside the installed wheels (nothing downloads):
MediaPipe's full-range face detector (BlazeFace) and its pose model (BlazePose) run on
overlapping square tiles at several scales, so that small people and people at a frame's edge
fill enough of the model's input, and OpenCV's HOG people detector (Dalal-Triggs SVM, built
into OpenCV). A face implies a person box below it; a pose found in a tile gives the box of its
landmarks; a HOG window is a standing person. Duplicates of one detector are removed by
non-maximum suppression; duplicates across detectors are left to the landmark check
(``detect/holistic.py``), which decides who is a person.

Boxes are (x0, y0, x1, y1) in full-image pixels, x right, y down. N, M: boxes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bodyfit.detect.config import DetectConfig
from bodyfit.detect.crops import Crop, square_crop
from bodyfit.detect.landmarks import Landmarks, head_box, landmark_box

SOURCES = ("face", "pose", "hog")
HOG_WINDOW = (64, 128)  # OpenCV's default people detector: width, height


@dataclass
class Proposal:
    """Where a person may be: ``box`` (4,) around the whole person (a guess for faces),
    ``head`` (4,) the face or head box when the detector saw it, ``score`` in [0, 1] within a
    source, ``source`` one of ``SOURCES``."""

    box: np.ndarray
    score: float
    source: str
    head: np.ndarray | None = None

    def head_guess(self) -> np.ndarray:
        """``head``, else a guess (4,): a square at the top middle of ``box``, a seventh of its
        height (a standing person is about seven heads tall)."""
        if self.head is not None:
            return self.head
        side = (self.box[3] - self.box[1]) / 7
        centre_x = (self.box[0] + self.box[2]) / 2
        return np.array([centre_x - side / 2, self.box[1], centre_x + side / 2, self.box[1] + side])


def tile_windows(height: int, width: int, level: int) -> list[tuple[np.ndarray, float]]:
    """Square windows of side (longer image side) / ``level``, overlapping by half and
    covering the image: (centre (2,), side) each. Level 1 is one window around the image."""
    if level < 1:
        raise ValueError(f"tile level must be at least 1, got {level}")
    side = max(height, width) / level
    windows = []
    starts_y = _starts(height, side)
    for x0 in _starts(width, side):
        for y0 in starts_y:
            windows.append((np.array([x0 + side / 2, y0 + side / 2]), side))
    return windows


def _starts(length: int, side: float) -> np.ndarray:
    """Window starts along one axis: every half side, the last one flush with the end; a
    window longer than the axis is centred on it."""
    if side >= length:
        return np.array([(length - side) / 2])
    starts = np.arange(0.0, length - side, side / 2)
    return np.unique(np.append(starts, length - side))


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of boxes ``a`` (N, 4) and ``b`` (M, 4): (N, M)."""
    a, b = np.asarray(a, float).reshape(-1, 4), np.asarray(b, float).reshape(-1, 4)
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=-1)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=-1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=-1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def non_max_suppression(boxes: np.ndarray, scores: np.ndarray, iou: float) -> list[int]:
    """Indices of the boxes (N, 4) kept, best score first: a box is dropped when it overlaps a
    kept one by more than ``iou``."""
    boxes = np.asarray(boxes, float).reshape(-1, 4)
    scores = np.asarray(scores, float).reshape(-1)
    if len(boxes) != len(scores):
        raise ValueError(f"{len(boxes)} boxes but {len(scores)} scores")
    kept: list[int] = []
    for index in np.argsort(-scores, kind="stable"):
        if not kept or box_iou(boxes[index], boxes[kept]).max() <= iou:
            kept.append(int(index))
    return kept


def face_person_box(face: np.ndarray, config: DetectConfig) -> np.ndarray:
    """The box a person with face box ``face`` (4,) may fill: ``face_person_width`` face
    widths wide, from ``face_person_above`` face heights above the face to
    ``face_person_below`` below its top (clipped by the caller's crop, not here)."""
    width, height = face[2] - face[0], face[3] - face[1]
    centre = (face[0] + face[2]) / 2
    half = config.face_person_width * width / 2
    return np.array([centre - half, face[1] - config.face_person_above * height,
                     centre + half, face[1] + config.face_person_below * height])


def suppress(proposals: list[Proposal], iou: float) -> list[Proposal]:
    """Non-maximum suppression within ``proposals`` of one source, on head boxes where all
    have one (faces), else on person boxes."""
    if not proposals:
        return []
    use_head = all(p.head is not None for p in proposals)
    boxes = np.stack([p.head if use_head else p.box for p in proposals])
    return [proposals[i] for i in non_max_suppression(boxes, np.array([p.score for p in proposals]), iou)]


def hog_people(image: np.ndarray, config: DetectConfig) -> list[Proposal]:
    """OpenCV's HOG people detector (64 x 128 windows) on ``image`` (H, W, 3) RGB, scaled so
    that people ``hog_min_person`` pixels tall fill a window, but to no more than
    ``hog_max_side`` pixels (in a large image people that small are left to the tiles); scores
    are the SVM margins mapped to [0, 1) by m / (1 + m). Nothing for an image smaller than
    one window."""
    import cv2

    gray = np.ascontiguousarray(image.mean(axis=2).astype(np.uint8))
    scale = min(HOG_WINDOW[1] / config.hog_min_person, config.hog_max_side / max(gray.shape))
    if scale != 1.0:
        gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    if gray.shape[0] < HOG_WINDOW[1] or gray.shape[1] < HOG_WINDOW[0]:
        return []  # smaller than one window: OpenCV 5.1's HOG corrupts memory on such images
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    stride = (config.hog_stride, config.hog_stride)
    rects, weights = hog.detectMultiScale(gray, winStride=stride, padding=(8, 8), scale=config.hog_pyramid_scale)
    proposals = []
    for (x, y, w, h), margin in zip(np.reshape(rects, (-1, 4)), np.ravel(weights)):
        if margin < config.hog_min_margin:
            continue
        # The person fills the middle of the window: about half its width, 80 % of its height.
        box = np.array([x + 0.25 * w, y + 0.1 * h, x + 0.75 * w, y + 0.9 * h]) / scale
        proposals.append(Proposal(box, float(margin / (1 + margin)), "hog"))
    return suppress(proposals, config.nms_iou)


class ProposalModels:
    """MediaPipe's full-range face detector and pose model, run on tiles; one instance reused
    across images (``close`` releases the models). ``mediapipe`` is the imported module."""

    def __init__(self, config: DetectConfig, mediapipe) -> None:
        self.config = config
        solutions = mediapipe.solutions
        self._faces = solutions.face_detection.FaceDetection(
            model_selection=1, min_detection_confidence=config.face_min_confidence)
        self._pose = solutions.pose.Pose(
            static_image_mode=True, model_complexity=config.model_complexity,
            min_detection_confidence=config.min_detection_confidence)

    def close(self) -> None:
        self._faces.close()
        self._pose.close()

    def pose_on(self, crop: Crop) -> Landmarks | None:
        """The pose model's person in ``crop``, in image pixels, or ``None``."""
        result = self._pose.process(crop.pixels)
        if result.pose_landmarks is None:
            return None
        points = np.array([(p.x, p.y, p.visibility) for p in result.pose_landmarks.landmark])
        return Landmarks(np.concatenate([crop.to_image(points[:, :2]), points[:, 2:]], axis=1))

    def faces_on(self, crop: Crop) -> list[Proposal]:
        """One proposal per face the face detector finds in ``crop``."""
        result = self._faces.process(crop.pixels)
        proposals = []
        for detection in result.detections or []:
            rel = detection.location_data.relative_bounding_box
            corners = crop.to_image(np.array([[rel.xmin, rel.ymin], [rel.xmin + rel.width, rel.ymin + rel.height]]))
            face = corners.reshape(-1)
            if np.any(face[2:] - face[:2] < 1.0):
                continue  # a degenerate box
            proposals.append(Proposal(face_person_box(face, self.config), float(detection.score[0]), "face", face))
        return proposals

    def faces(self, image: np.ndarray) -> list[Proposal]:
        """Faces on the tiles of every level in ``face_levels``, suppressed across tiles."""
        found = []
        for level in self.config.face_levels:
            for centre, side in tile_windows(*image.shape[:2], level):
                found += self.faces_on(square_crop(image, centre, side, self.config.tile_min_side))
        return suppress(found, self.config.nms_iou)

    def poses(self, image: np.ndarray) -> list[Proposal]:
        """The pose model's person on each tile of every level in ``pose_levels`` (one per
        tile), kept when ``min_visible_landmarks`` landmarks are visible."""
        config = self.config
        found = []
        for level in config.pose_levels:
            for centre, side in tile_windows(*image.shape[:2], level):
                person = self.pose_on(square_crop(image, centre, side, config.tile_min_side))
                if person is None or person.visible(config.visibility_threshold) < config.min_visible_landmarks:
                    continue
                score = float(np.mean(person.pose[:, 2]))
                found.append(Proposal(landmark_box(person, config.visibility_threshold), score, "pose",
                                      head_box(person, config.visibility_threshold)))
        return suppress(found, config.nms_iou)

    def propose(self, image: np.ndarray) -> list[Proposal]:
        """Every proposal for ``image`` (H, W, 3) RGB uint8: faces first, then poses, then
        HOG windows, each best first."""
        proposals = self.faces(image) + self.poses(image)
        if self.config.hog:
            proposals += hog_people(image, self.config)
        return proposals
