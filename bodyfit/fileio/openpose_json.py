"""OpenPose keypoint files: read, validate, write, and match them to images.

A file ``<stem>_keypoints.json`` (OpenPose 1.2/1.3) holds every detected person, each with
flat (x, y, confidence) triples: 25 body, 21 + 21 hand, 70 face points; a missing point is
(0, 0, 0) and a part that was not run is an empty list.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from bodyfit.fileio import keypoint_layout
from bodyfit.fileio.atomic import write_text_atomic

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
KEYPOINT_SUFFIX = "_keypoints.json"
_PARTS = {"pose_keypoints_2d": 25, "hand_left_keypoints_2d": 21,
          "hand_right_keypoints_2d": 21, "face_keypoints_2d": 70}


class KeypointFileError(ValueError):
    """A keypoint file that cannot be used; the message names the file and the problem."""


@dataclass
class PersonKeypoints:
    """One person's 2D keypoints, each (N, 3) of x, y (pixels) and confidence."""

    body: np.ndarray
    left_hand: np.ndarray
    right_hand: np.ndarray
    face: np.ndarray

    def to_layout(self, use_face_contour: bool = False) -> np.ndarray:
        """(K, 3) in bodyfit's order (``fileio.keypoint_layout``): body, hands, face 17-67,
        then contour 0-16 if asked."""
        parts = [self.body, self.left_hand, self.right_hand, self.face[17:68]]
        if use_face_contour:
            parts.append(self.face[:17])
        return np.concatenate(parts, axis=0)

    @staticmethod
    def from_layout(keypoints: np.ndarray) -> "PersonKeypoints":
        """Inverse of ``to_layout`` (face points that the layout lacks get confidence 0)."""
        face = np.zeros((70, 3))
        face[17:68] = keypoints[keypoint_layout.FACE]
        if len(keypoints) >= keypoint_layout.CONTOUR.stop:
            face[:17] = keypoints[keypoint_layout.CONTOUR]
        return PersonKeypoints(keypoints[keypoint_layout.BODY].copy(), keypoints[keypoint_layout.LEFT_HAND].copy(),
                               keypoints[keypoint_layout.RIGHT_HAND].copy(), face)


def usable_points(keypoints: np.ndarray, image_size: tuple[int, int], confidence_threshold: float,
                  margin: float) -> np.ndarray:
    """(K,) which detections (K, 3: x, y, confidence) count: confidence above
    ``confidence_threshold``, finite, and no further outside the image than ``margin`` times
    its width / height (a point at 1e12 px is no observation of this image)."""
    height, width = image_size
    x, y, confidence = keypoints[:, 0], keypoints[:, 1], keypoints[:, 2]
    margin_x, margin_y = margin * width, margin * height
    with np.errstate(invalid="ignore"):
        inside = (x >= -margin_x) & (x <= width + margin_x) & (y >= -margin_y) & (y <= height + margin_y)
        return np.isfinite(keypoints).all(axis=1) & (confidence > confidence_threshold) & inside


def _part(path: Path, person: int, key: str, values: object) -> np.ndarray:
    count = _PARTS[key]
    if values is None or values == []:
        return np.zeros((count, 3))
    if not isinstance(values, list) or not all(isinstance(v, (int, float)) for v in values):
        raise KeypointFileError(f"{path}: person {person}: '{key}' must be a list of numbers")
    if len(values) != 3 * count:
        raise KeypointFileError(f"{path}: person {person}: '{key}' has {len(values)} values, "
                                f"expected {3 * count} ({count} points x 3)")
    array = np.asarray(values, dtype=np.float64).reshape(count, 3)
    if not np.all(np.isfinite(array)):
        raise KeypointFileError(f"{path}: person {person}: '{key}' contains NaN or infinite values")
    if np.any(array[:, 2] < 0):
        raise KeypointFileError(f"{path}: person {person}: '{key}' has a negative confidence")
    return array


def load_json(path: Path | str) -> object:
    """The JSON value in ``path`` (NaN and Infinity read as NaN); ``KeypointFileError`` naming
    the file when it is missing or not JSON."""
    path = Path(path)
    try:
        return json.loads(path.read_text(), parse_constant=lambda c: math.nan)
    except FileNotFoundError as error:
        raise KeypointFileError(f"{path}: no such keypoint file") from error
    except IsADirectoryError as error:
        raise KeypointFileError(f"{path}: a folder, not a keypoint file") from error
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise KeypointFileError(f"{path}: not valid JSON ({error})") from error


def parse_openpose(data: object, path: Path | str, allow_empty: bool = False) -> list[PersonKeypoints]:
    """Every person in ``data``, an OpenPose file's JSON value read from ``path`` (named in
    errors); ``KeypointFileError`` for anything unusable, an empty people list included unless
    ``allow_empty``."""
    path = Path(path)
    if not isinstance(data, dict) or not isinstance(data.get("people"), list):
        raise KeypointFileError(f"{path}: no 'people' list (not an OpenPose keypoint file)")
    if not data["people"] and not allow_empty:
        raise KeypointFileError(f"{path}: no people in the file")
    people = []
    for index, person in enumerate(data["people"]):
        if not isinstance(person, dict):
            raise KeypointFileError(f"{path}: person {index} is not an object")
        if "pose_keypoints_2d" not in person:
            raise KeypointFileError(f"{path}: person {index} has no 'pose_keypoints_2d'")
        parts = [_part(path, index, key, person.get(key)) for key in _PARTS]
        people.append(PersonKeypoints(*parts))
    return people


def read_openpose(path: Path | str, allow_empty: bool = False) -> list[PersonKeypoints]:
    """Every person in an OpenPose JSON file; ``KeypointFileError`` for anything unusable,
    an empty people list included unless ``allow_empty``."""
    return parse_openpose(load_json(path), path, allow_empty)


def write_openpose(path: Path | str, people: list[PersonKeypoints]) -> None:
    """Writes ``people`` as an OpenPose 1.3 file, atomically."""
    def flat(array: np.ndarray) -> list[float]:
        return [round(float(v), 4) for v in np.asarray(array).reshape(-1)]

    records = [{"person_id": [-1], "pose_keypoints_2d": flat(p.body), "face_keypoints_2d": flat(p.face),
                "hand_left_keypoints_2d": flat(p.left_hand), "hand_right_keypoints_2d": flat(p.right_hand),
                "pose_keypoints_3d": [], "face_keypoints_3d": [], "hand_left_keypoints_3d": [],
                "hand_right_keypoints_3d": []} for p in people]
    write_text_atomic(path, json.dumps({"version": 1.3, "people": records}) + "\n")


class PeopleSource(Protocol):
    """What ``match_images`` pairs images with besides a folder of OpenPose files: a
    ``fileio.formats.source.KeypointSource``."""

    path: Path
    per_image: bool

    def entry_for(self, image: Path) -> str | None: ...

    def file_of(self, entry: str | None) -> Path | None: ...

    def names(self) -> list[str]: ...

    def missing_reason(self, image: Path) -> str: ...

    def people(self, entry: str, image_size: tuple[int, int]) -> list[PersonKeypoints]: ...


@dataclass
class ImageItem:
    """An image and its keypoint file (None when there is none). ``conflict`` lists every
    image of the folder that shares this stem when there are several (``a.png`` and
    ``a.jpg``): which one the keypoints belong to cannot be told. ``source`` and ``entry``:
    where the image's people come from when they are not an OpenPose file (``entry`` None:
    the source has nothing for the image)."""

    stem: str
    image: Path
    keypoints: Path | None
    conflict: tuple[Path, ...] = ()
    source: PeopleSource | None = None
    entry: str | None = None


def list_images(images: Path | str) -> list[Path]:
    """Images in a folder (.jpg, .jpeg, .png in any case), sorted by name."""
    images = Path(images)
    if not images.is_dir():
        raise FileNotFoundError(f"{images}: not a folder of images")
    return sorted(p for p in images.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _by_stem(images: Path | str) -> dict[str, list[Path]]:
    by_stem: dict[str, list[Path]] = {}
    for image in list_images(images):
        by_stem.setdefault(image.stem, []).append(image)
    return by_stem


def match_images(images: Path | str, keypoints: Path | str | PeopleSource) -> list[ImageItem]:
    """Pairs each image with its people: ``<stem>_keypoints.json`` in the folder ``keypoints``,
    or its entry in ``keypoints``, a source of any format (``fileio.formats.source``); one item
    per stem (images sharing a stem are one item with ``conflict`` set). A single file over
    many images that names none of them is a ``KeypointFileError``."""
    if not isinstance(keypoints, (str, Path)):
        return _match_source(images, keypoints)
    keypoints = Path(keypoints)
    if not keypoints.is_dir():
        raise FileNotFoundError(f"{keypoints}: not a folder of keypoint files")
    items = []
    for stem, paths in _by_stem(images).items():
        candidate = keypoints / f"{stem}{KEYPOINT_SUFFIX}"
        conflict = tuple(paths) if len(paths) > 1 else ()
        items.append(ImageItem(stem, paths[0], candidate if candidate.is_file() else None, conflict))
    return items


def _match_source(images: Path | str, source: PeopleSource) -> list[ImageItem]:
    items = []
    for stem, paths in _by_stem(images).items():
        entry = source.entry_for(paths[0])
        conflict = tuple(paths) if len(paths) > 1 else ()
        items.append(ImageItem(stem, paths[0], source.file_of(entry), conflict, source, entry))
    if items and not source.per_image and not any(item.entry for item in items):
        names = ", ".join(source.names()[:5]) or "none"
        raise KeypointFileError(f"{source.path}: none of the {len(items)} images in {images} appear in it "
                                f"(it names {names}{', ...' if len(source.names()) > 5 else ''})")
    return items
