"""Each tool's own JSON layout read into people of a keypoint format.

Per-image layouts (one file per image, matched by the image's stem):
- ``openpose``: OpenPose's ``{"people": [{"pose_keypoints_2d": [...], ...}]}`` (BODY_25 or BODY_25B).
- ``mmpose``: MMPoseInferencer's ``pred_out_dir`` file, a list of instances
  ``{"keypoints": [[x, y], ...], "keypoint_scores": [...], "bbox": [[x0, y0, x1, y1]], ...}``, or
  the demo scripts' ``--save-predictions`` file ``{"meta_info": ..., "instance_info": [...]}``.
- ``mediapipe``: landmark lists as protobuf's ``json_format.MessageToDict`` writes a
  ``NormalizedLandmarkList`` (``{"landmark": [{"x", "y", "z", "visibility"}, ...]}``, x and y
  shares of the image's width and height; fields equal to 0 are left out), one pose, or a
  person's parts under Holistic's names ``pose_landmarks``, ``left_hand_landmarks``,
  ``right_hand_landmarks``, ``face_landmarks``; a list of those for several people.

Single-file layouts (many images in one file):
- ``alphapose``: ``alphapose-results.json``, a list of ``{"image_id": "<file name>",
  "category_id": 1, "keypoints": [x, y, score, ...], "score", "box", "idx"}``.
- ``coco``: a COCO keypoint annotation file, ``{"images": [{"id", "file_name", ...}],
  "annotations": [{"image_id", "keypoints": [x, y, v, ...], ...}]}`` with v = 0 unlabelled,
  1 labelled but hidden, 2 visible; COCO-WholeBody's ``foot_kpts``, ``face_kpts``,
  ``lefthand_kpts``, ``righthand_kpts`` (and their ``*_valid`` flags) when present.
- ``coco_results``: a COCO result file, a list of ``{"image_id": <int>, "category_id",
  "keypoints", "score"}``; its integer ids are named by an annotation file or a name map
  (``read_image_ids``), else matched to images whose stem is that number (COCO's own naming).

Shapes: N joints of the format.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bodyfit.fileio.formats.config import KeypointFormatsConfig
from bodyfit.fileio.formats.mediapipe import FACE_MESH_LANDMARKS, HAND_LANDMARKS, POSE_LANDMARKS
from bodyfit.fileio.formats.skeletons import BY_POINT_COUNT, SKELETONS, Skeleton
from bodyfit.fileio.openpose_json import KeypointFileError, load_json

PER_IMAGE = ("openpose", "mmpose", "mediapipe")
SINGLE_FILE = ("alphapose", "coco", "coco_results")
LAYOUT_TITLES = {"openpose": "OpenPose JSON", "mmpose": "mmpose", "mediapipe": "MediaPipe landmarks",
                 "alphapose": "AlphaPose results", "coco": "COCO annotations", "coco_results": "COCO results"}
WHOLEBODY_PARTS = (("foot_kpts", "foot_valid", 6), ("face_kpts", "face_valid", 68),
                   ("lefthand_kpts", "lefthand_valid", 21), ("righthand_kpts", "righthand_valid", 21))
HOLISTIC_PARTS = ("pose_landmarks", "left_hand_landmarks", "right_hand_landmarks", "face_landmarks")


@dataclass
class Detection:
    """One person as a file gives it: ``points`` (N, 3) x, y, confidence in the format's joint
    order; ``normalized``: x and y are shares of the image's width and height."""

    points: np.ndarray
    normalized: bool = False


def sniff(data: object) -> str | None:
    """The layout of a parsed JSON value (see the module docstring), or None."""
    if isinstance(data, dict):
        if isinstance(data.get("people"), list):
            return "openpose"
        if "annotations" in data and "images" in data:
            return "coco"
        if "instance_info" in data:
            return "mmpose"
        if "landmark" in data or any(_holistic_key(data, part) for part in HOLISTIC_PARTS):
            return "mediapipe"
        return None
    if isinstance(data, list) and data and isinstance(data[0], dict):
        first = data[0]
        if "keypoint_scores" in first:
            return "mmpose"
        if "landmark" in first or any(_holistic_key(first, part) for part in HOLISTIC_PARTS):
            return "mediapipe"
        if "image_id" in first and "keypoints" in first:
            return "alphapose" if isinstance(first["image_id"], str) or "idx" in first else "coco_results"
    return None


def _holistic_key(record: dict, part: str) -> str | None:
    """The key under which ``record`` holds Holistic part ``part`` (snake or camel case)."""
    camel = part.split("_")[0] + "".join(word.title() for word in part.split("_")[1:])
    return part if part in record else camel if camel in record else None


def point_count(data: object, layout: str) -> int | None:
    """How many points a person has in ``data`` of ``layout`` (None: no person to tell by)."""
    if layout == "mmpose":
        instances = _mmpose_instances(data, Path("?"))
        return len(instances[0].get("keypoints") or []) if instances else None
    if layout in ("alphapose", "coco_results"):
        return len(data[0]["keypoints"]) // 3 if data else None
    if layout == "coco":
        for annotation in data.get("annotations") or []:
            body = len(annotation.get("keypoints") or []) // 3
            return body + (6 + 68 + 42 if "foot_kpts" in annotation else 0)
    return None


def format_by_count(count: int, path: Path) -> str:
    """The format with ``count`` points; ``KeypointFileError`` naming ``path`` otherwise."""
    if count not in BY_POINT_COUNT:
        known = ", ".join(f"{n} ({name})" for n, name in BY_POINT_COUNT.items())
        raise KeypointFileError(f"{path}: people of {count} points; bodyfit reads {known} in this layout")
    return BY_POINT_COUNT[count]


def _points(path: Path, where: str, xy: object, scores: object, count: int) -> np.ndarray:
    """(count, 3) from x, y pairs and scores; ``KeypointFileError`` naming ``path`` and ``where``."""
    try:
        xy_array = np.asarray(xy, dtype=np.float64)
        score_array = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise KeypointFileError(f"{path}: {where}: keypoints must be numbers ({error})") from error
    if xy_array.ndim != 2 or xy_array.shape[0] != count or xy_array.shape[1] < 2 or score_array.shape != (count,):
        raise KeypointFileError(f"{path}: {where}: expected {count} points with a score each, got keypoints "
                                f"{xy_array.shape} and scores {score_array.shape}")
    points = np.column_stack([xy_array[:, :2], score_array])
    if not np.isfinite(points).all():
        raise KeypointFileError(f"{path}: {where}: NaN or infinite values")
    if (points[:, 2] < 0).any():
        raise KeypointFileError(f"{path}: {where}: a negative score")
    return points


def _flat(path: Path, where: str, values: object, count: int) -> np.ndarray:
    """(count, 3) from a flat [x, y, score, ...] list."""
    if not isinstance(values, list) or len(values) != 3 * count:
        size = len(values) if isinstance(values, list) else type(values).__name__
        raise KeypointFileError(f"{path}: {where}: 'keypoints' must hold {3 * count} numbers "
                                f"({count} points x 3), got {size}")
    try:
        flat = np.asarray(values, dtype=np.float64).reshape(count, 3)
    except (TypeError, ValueError) as error:
        raise KeypointFileError(f"{path}: {where}: keypoints must be numbers ({error})") from error
    return _points(path, where, flat[:, :2], flat[:, 2], count)


def _clipped(points: np.ndarray, config: KeypointFormatsConfig) -> np.ndarray:
    """``points`` (N, 3) with scores over ``max_score`` (RTMPose's SimCC scores pass 1) cut to 1."""
    points = points.copy()
    points[:, 2] = np.minimum(points[:, 2], config.max_score) / config.max_score
    return points


def _mmpose_instances(data: object, path: Path) -> list[dict]:
    instances = data.get("instance_info") if isinstance(data, dict) else data
    if not isinstance(instances, list) or not all(isinstance(i, dict) for i in instances):
        raise KeypointFileError(f"{path}: not an mmpose prediction file (a list of instances)")
    if instances and "frame_id" in instances[0]:
        raise KeypointFileError(f"{path}: an mmpose video prediction file (frame_id, instances): bodyfit "
                                "reads one file per image")
    return instances


def parse_mmpose(data: object, path: Path, skeleton: Skeleton, config: KeypointFormatsConfig) -> list[Detection]:
    """Each instance of an mmpose prediction file."""
    count = len(skeleton.joints)
    people = []
    for index, instance in enumerate(_mmpose_instances(data, path)):
        if "keypoints" not in instance or "keypoint_scores" not in instance:
            raise KeypointFileError(f"{path}: instance {index} has no 'keypoints' and 'keypoint_scores'")
        points = _points(path, f"instance {index}", instance["keypoints"], instance["keypoint_scores"], count)
        people.append(Detection(_clipped(points, config)))
    return people


def _landmarks(path: Path, where: str, message: object) -> np.ndarray:
    """(n, 3) x, y, visibility of a NormalizedLandmarkList's dict (missing fields are 0, as
    protobuf leaves them out); visibility NaN when no landmark carries one."""
    landmarks = message.get("landmark") if isinstance(message, dict) else None
    if not isinstance(landmarks, list) or not all(isinstance(m, dict) for m in landmarks):
        raise KeypointFileError(f"{path}: {where}: not a landmark list ({{'landmark': [{{'x', 'y', ...}}]}})")
    try:
        rows = [[float(m.get("x", 0.0)), float(m.get("y", 0.0)), float(m.get("visibility", 0.0))]
                for m in landmarks]
    except (TypeError, ValueError) as error:
        raise KeypointFileError(f"{path}: {where}: landmark values must be numbers ({error})") from error
    array = np.asarray(rows, dtype=np.float64).reshape(-1, 3)
    if not np.isfinite(array).all():
        raise KeypointFileError(f"{path}: {where}: NaN or infinite values")
    if not any("visibility" in m for m in landmarks):
        array[:, 2] = np.nan
    return array


def _mediapipe_parts(path: Path, where: str, record: dict) -> dict[str, np.ndarray]:
    """Holistic part -> landmarks (n, 3) of one person's record."""
    if "landmark" in record:
        lone = _landmarks(path, where, record)
        if len(lone) == POSE_LANDMARKS:
            return {"pose_landmarks": lone}
        if len(lone) in (FACE_MESH_LANDMARKS, FACE_MESH_LANDMARKS - 10):
            return {"face_landmarks": lone}
        raise KeypointFileError(f"{path}: {where}: a lone list of {len(lone)} landmarks; bodyfit reads a pose "
                                f"({POSE_LANDMARKS}) or face mesh (468/478) alone, and hands ({HAND_LANDMARKS}) "
                                "under 'left_hand_landmarks' / 'right_hand_landmarks'")
    parts = {}
    for part in HOLISTIC_PARTS:
        key = _holistic_key(record, part)
        if key is not None and record[key] is not None:
            parts[part] = _landmarks(path, f"{where}: {key}", record[key])
    return parts


def _mediapipe_points(path: Path, where: str, parts: dict[str, np.ndarray],
                      config: KeypointFormatsConfig) -> np.ndarray:
    """(553, 3) the MediaPipe format's rows (pose 33, hands 21 + 21, face mesh 478) of one person."""
    expected = {"pose_landmarks": (POSE_LANDMARKS,), "left_hand_landmarks": (HAND_LANDMARKS,),
                "right_hand_landmarks": (HAND_LANDMARKS,), "face_landmarks": (FACE_MESH_LANDMARKS - 10,
                                                                               FACE_MESH_LANDMARKS)}
    default = {"pose_landmarks": config.mediapipe_pose_confidence, "left_hand_landmarks": config.mediapipe_hand_confidence,
               "right_hand_landmarks": config.mediapipe_hand_confidence,
               "face_landmarks": config.mediapipe_face_confidence}
    rows, start = np.zeros((len(SKELETONS["mediapipe"].joints), 3)), 0
    for part in HOLISTIC_PARTS:
        size = max(expected[part])
        landmarks = parts.get(part)
        if landmarks is not None:
            if len(landmarks) not in expected[part]:
                raise KeypointFileError(f"{path}: {where}: {part} has {len(landmarks)} landmarks, expected "
                                        f"{' or '.join(map(str, expected[part]))}")
            block = landmarks.copy()
            block[np.isnan(block[:, 2]), 2] = default[part]
            rows[start:start + len(block)] = block
        start += size
    return rows


def parse_mediapipe(data: object, path: Path, config: KeypointFormatsConfig) -> list[Detection]:
    """Each person of a MediaPipe landmark file (normalised coordinates)."""
    records = data if isinstance(data, list) else [data]
    people = []
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise KeypointFileError(f"{path}: person {index} is not an object")
        parts = _mediapipe_parts(path, f"person {index}", record)
        if parts:
            people.append(Detection(_mediapipe_points(path, f"person {index}", parts, config), normalized=True))
    return people


def name_key(name: str) -> str:
    """The key an image name is filed under: its file name without folders."""
    return Path(str(name).replace("\\", "/")).name


def parse_alphapose(data: object, path: Path, skeleton: Skeleton,
                    config: KeypointFormatsConfig) -> dict[str, list[Detection]]:
    """Image file name -> its people, from AlphaPose's results list."""
    if not isinstance(data, list):
        raise KeypointFileError(f"{path}: not an AlphaPose results file (a list of detections)")
    by_image: dict[str, list[Detection]] = {}
    for index, record in enumerate(data):
        if not isinstance(record, dict) or "image_id" not in record or "keypoints" not in record:
            raise KeypointFileError(f"{path}: detection {index} has no 'image_id' and 'keypoints'")
        if record.get("category_id", 1) != 1:
            continue
        points = _flat(path, f"detection {index}", record["keypoints"], len(skeleton.joints))
        by_image.setdefault(name_key(record["image_id"]), []).append(Detection(_clipped(points, config)))
    return by_image


def _visibility_to_confidence(points: np.ndarray, config: KeypointFormatsConfig) -> np.ndarray:
    """(N, 3) with COCO's flags as confidences: 2 -> 1, 1 -> ``annotation_occluded_confidence``, 0 -> 0."""
    flags = points[:, 2]
    points = points.copy()
    points[:, 2] = np.where(flags >= 1.5, 1.0, np.where(flags > 0, config.annotation_occluded_confidence, 0.0))
    return points


def _annotation_points(path: Path, where: str, annotation: dict, skeleton: Skeleton) -> np.ndarray:
    """(N, 3) x, y, flag of one annotation, COCO-WholeBody's parts appended (zeroed when not valid)."""
    body = _flat(path, where, annotation.get("keypoints"), 17 if skeleton.name == "coco_wholebody"
                 else len(skeleton.joints))
    if skeleton.name != "coco_wholebody":
        return body
    parts = [body]
    for key, valid, count in WHOLEBODY_PARTS:
        values = annotation.get(key)
        if values is None or values == []:
            parts.append(np.zeros((count, 3)))
            continue
        part = _flat(path, f"{where}: {key}", values, count)
        parts.append(part if annotation.get(valid, True) else np.zeros((count, 3)))
    return np.concatenate(parts)


def parse_coco(data: object, path: Path, skeleton: Skeleton, config: KeypointFormatsConfig
               ) -> tuple[dict[str, list[Detection]], dict[int, str]]:
    """Image file name -> its annotated people (every image of the file, nobody included),
    and the file's image id -> file name."""
    images, annotations = data.get("images"), data.get("annotations")
    if not isinstance(images, list) or not isinstance(annotations, list):
        raise KeypointFileError(f"{path}: 'images' and 'annotations' must be lists")
    names = read_coco_names(images, path)
    by_image: dict[str, list[Detection]] = {name_key(name): [] for name in names.values()}
    for index, annotation in enumerate(annotations):
        if not isinstance(annotation, dict):
            raise KeypointFileError(f"{path}: annotation {index} is not an object")
        if annotation.get("iscrowd") or annotation.get("category_id", 1) != 1 or not annotation.get("keypoints"):
            continue
        image_id = annotation.get("image_id")
        if image_id not in names:
            raise KeypointFileError(f"{path}: annotation {index} names image_id {image_id!r}, which 'images' lacks")
        points = _annotation_points(path, f"annotation {index}", annotation, skeleton)
        by_image[name_key(names[image_id])].append(Detection(_visibility_to_confidence(points, config)))
    return by_image, names


def read_coco_names(images: object, path: Path) -> dict[int, str]:
    """Image id -> file name from a COCO file's ``images`` list."""
    if not isinstance(images, list):
        raise KeypointFileError(f"{path}: 'images' must be a list")
    names = {}
    for index, image in enumerate(images):
        if not isinstance(image, dict) or "id" not in image or "file_name" not in image:
            raise KeypointFileError(f"{path}: images[{index}] has no 'id' and 'file_name'")
        names[image["id"]] = str(image["file_name"])
    return names


def read_image_ids(path: Path | str) -> dict[int, str]:
    """Image id -> file name from a COCO annotation file (its ``images``) or a JSON object
    ``{"<id>": "<file name>"}``."""
    path = Path(path)
    data = load_json(path)
    if isinstance(data, dict) and "images" in data:
        return read_coco_names(data["images"], path)
    if isinstance(data, dict) and all(isinstance(v, str) for v in data.values()):
        try:
            return {int(k): v for k, v in data.items()}
        except ValueError as error:
            raise KeypointFileError(f"{path}: image ids must be integers ({error})") from error
    raise KeypointFileError(f"{path}: neither a COCO annotation file nor an {{id: file name}} map")


def parse_coco_results(data: object, path: Path, skeleton: Skeleton, config: KeypointFormatsConfig
                       ) -> dict[int, list[Detection]]:
    """Image id -> its people, from a COCO result file."""
    if not isinstance(data, list):
        raise KeypointFileError(f"{path}: not a COCO result file (a list of detections)")
    by_id: dict[int, list[Detection]] = {}
    for index, record in enumerate(data):
        if not isinstance(record, dict) or not isinstance(record.get("image_id"), int):
            raise KeypointFileError(f"{path}: detection {index} has no integer 'image_id'")
        if record.get("category_id", 1) != 1:
            continue
        points = _flat(path, f"detection {index}", record.get("keypoints"), len(skeleton.joints))
        by_id.setdefault(record["image_id"], []).append(Detection(_clipped(points, config)))
    return by_id
