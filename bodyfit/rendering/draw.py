"""2D annotations on RGB images (Pillow): points, labels, OpenPose skeletons."""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
from PIL import Image, ImageDraw

Color = tuple[int, int, int]

# BODY_25 limbs (pairs of keypoint indices) and the 21-point hand's bones.
BODY25_LIMBS = ((1, 8), (1, 2), (2, 3), (3, 4), (1, 5), (5, 6), (6, 7), (8, 9), (9, 10), (10, 11),
                (8, 12), (12, 13), (13, 14), (1, 0), (0, 15), (15, 17), (0, 16), (16, 18), (14, 19),
                (19, 20), (14, 21), (11, 22), (22, 23), (11, 24))
HAND_BONES = tuple((0 if j % 4 == 1 else j - 1, j) for j in range(1, 21))
# The subject's left side in red tones, the right in blue tones, the middle in green.
LEFT_COLOR, RIGHT_COLOR, MIDDLE_COLOR = (230, 60, 60), (60, 110, 240), (60, 200, 90)
_RIGHT_BODY = {2, 3, 4, 9, 10, 11, 15, 17, 22, 23, 24}
_LEFT_BODY = {5, 6, 7, 12, 13, 14, 16, 18, 19, 20, 21}


def _side_color(a: int, b: int) -> Color:
    if a in _RIGHT_BODY or b in _RIGHT_BODY:
        return RIGHT_COLOR
    if a in _LEFT_BODY or b in _LEFT_BODY:
        return LEFT_COLOR
    return MIDDLE_COLOR


def draw_points(image: np.ndarray, points: np.ndarray, colors: Color | Sequence[Color], radius: float = 3) -> np.ndarray:
    """A copy of ``image`` (H, W, 3) with filled circles at ``points`` (N, 2)."""
    canvas = Image.fromarray(image)
    draw = ImageDraw.Draw(canvas)
    per_point = [colors] * len(points) if isinstance(colors[0], int) else list(colors)
    for (x, y), color in zip(np.asarray(points, float).tolist(), per_point):
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=tuple(color))
    return np.asarray(canvas).copy()


def draw_label(image: np.ndarray, text: str, origin: tuple[int, int] = (8, 8), color: Color = (0, 0, 0),
               size: int = 20) -> np.ndarray:
    """A copy of ``image`` with ``text`` written at ``origin`` (top left)."""
    canvas = Image.fromarray(image)
    ImageDraw.Draw(canvas).text(origin, text, fill=color, font_size=size)
    return np.asarray(canvas).copy()


def _segments(draw: ImageDraw.ImageDraw, points: np.ndarray, pairs: Iterable[tuple[int, int]],
              threshold: float, width: int, color_of) -> None:
    for a, b in pairs:
        if points[a, 2] > threshold and points[b, 2] > threshold:
            draw.line([tuple(points[a, :2]), tuple(points[b, :2])], fill=color_of(a, b), width=width)


def draw_openpose(image: np.ndarray, body: np.ndarray, left_hand: np.ndarray | None = None,
                  right_hand: np.ndarray | None = None, face: np.ndarray | None = None,
                  threshold: float = 0.1, width: int = 3) -> np.ndarray:
    """A copy of ``image`` with one person's OpenPose keypoints ((N, 3): x, y, confidence)
    drawn as a skeleton: the subject's left in red, right in blue."""
    canvas = Image.fromarray(image)
    draw = ImageDraw.Draw(canvas)
    _segments(draw, np.asarray(body, float), BODY25_LIMBS, threshold, width, _side_color)
    for hand, color in ((left_hand, LEFT_COLOR), (right_hand, RIGHT_COLOR)):
        if hand is not None:
            _segments(draw, np.asarray(hand, float), HAND_BONES, threshold, max(1, width - 1), lambda a, b, c=color: c)
    if face is not None:
        for x, y, c in np.asarray(face, float).tolist():
            if c > threshold:
                draw.ellipse((x - 1, y - 1, x + 1, y + 1), fill=(250, 250, 250))
    return np.asarray(canvas).copy()
