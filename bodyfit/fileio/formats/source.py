"""Where each image's people come from: a folder of per-image files or one file over many
images, in any layout of ``fileio.formats.parsers``, read as people in OpenPose's parts
(``PersonKeypoints``; ``to_layout`` gives bodyfit's (K, 3)).

    source = open_keypoints("predictions/", "auto")      # the format is told from the files
    source.describe()                                    # "COCO-WholeBody (mmpose)"
    entry = source.entry_for(Path("images/a.jpg"))       # None: nothing for that image
    people = source.people(entry, (height, width))       # pixels, the format's weights applied

Shapes: K keypoints, N joints of the format.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from bodyfit.fileio.formats import parsers
from bodyfit.fileio.formats.config import KeypointFormatsConfig, load_formats_config
from bodyfit.fileio.formats.parsers import LAYOUT_TITLES, PER_IMAGE, Detection
from bodyfit.fileio.formats.skeletons import SKELETONS, Skeleton, apply_weights, skeleton
from bodyfit.fileio.keypoint_layout import OPENPOSE
from bodyfit.fileio.openpose_json import KEYPOINT_SUFFIX, KeypointFileError, PersonKeypoints, load_json, parse_openpose

AUTO = "auto"
SNIFF_FILES = 64  # files of a folder read to tell its format


class KeypointSource(ABC):
    """People per image from ``path`` in format ``skeleton``, laid out as ``layout``;
    ``note`` says how the format was told when that is worth a line in the log."""

    per_image = True

    def __init__(self, path: Path, fmt: Skeleton, layout: str, config: KeypointFormatsConfig, note: str = ""):
        self.path, self.skeleton, self.layout, self.config, self.note = path, fmt, layout, config, note

    @property
    def format(self) -> str:
        """The format's name, as ``--keypoint-format`` takes it (``coco_wholebody``)."""
        return self.skeleton.name

    def describe(self) -> str:
        """The format and the layout, as the log says them: ``COCO-WholeBody (mmpose)``."""
        text = f"{self.skeleton.title} ({LAYOUT_TITLES[self.layout]})"
        return f"{text}; {self.note}" if self.note else text

    @abstractmethod
    def entry_for(self, image: Path) -> str | None:
        """The key of ``image``'s people, or None when the source has nothing for it."""

    @abstractmethod
    def file_of(self, entry: str | None) -> Path | None:
        """The file that holds ``entry``'s people."""

    @abstractmethod
    def missing_reason(self, image: Path) -> str:
        """Why ``image`` has no entry, naming what was looked for."""

    def names(self) -> list[str]:
        """The image names the source holds people for (single files; empty for folders)."""
        return []

    @abstractmethod
    def people(self, entry: str, image_size: tuple[int, int]) -> list[PersonKeypoints]:
        """Every person of ``entry`` in pixels of an image of ``image_size`` (height, width),
        in OpenPose's parts, with the format's confidence weights applied."""

    def _convert(self, detections: list[Detection], image_size: tuple[int, int]) -> list[PersonKeypoints]:
        height, width = image_size
        weights = self.config.weights_of(self.format)
        people = []
        for detection in detections:
            points = detection.points.copy()
            if detection.normalized:
                points[:, :2] *= (width, height)
            people.append(apply_weights(self.skeleton.to_openpose(points), weights))
        return people


class FolderSource(KeypointSource):
    """One file per image: ``<stem>_keypoints.json`` or ``<stem>.json``."""

    def _candidates(self, image: Path) -> list[Path]:
        return [self.path / f"{image.stem}{KEYPOINT_SUFFIX}", self.path / f"{image.stem}.json"]

    def entry_for(self, image: Path) -> str | None:
        found = [p for p in self._candidates(image) if p.is_file()]
        return str(found[0]) if found else None

    def file_of(self, entry: str | None) -> Path | None:
        return None if entry is None else Path(entry)

    def missing_reason(self, image: Path) -> str:
        if self.layout == "openpose":
            return f"{image}: no keypoint file {image.stem}{KEYPOINT_SUFFIX}"
        names = " or ".join(p.name for p in self._candidates(image))
        return f"{image}: no keypoint file {names} in {self.path}"

    def people(self, entry: str, image_size: tuple[int, int]) -> list[PersonKeypoints]:
        path = Path(entry)
        data = load_json(path)
        found = parsers.sniff(data)
        if found is not None and found != self.layout:
            raise KeypointFileError(f"{path}: a {LAYOUT_TITLES[found]} file among {LAYOUT_TITLES[self.layout]} files")
        if self.layout == "openpose":
            return self._openpose(data, path)
        if self.layout == "mmpose":
            return self._convert(parsers.parse_mmpose(data, path, self.skeleton, self.config), image_size)
        return self._convert(parsers.parse_mediapipe(data, path, self.config), image_size)

    def _openpose(self, data: object, path: Path) -> list[PersonKeypoints]:
        people = parse_openpose(data, path, allow_empty=True)
        weights = self.config.weights_of(self.format)
        if self.format == "openpose":
            return [apply_weights(p, weights) for p in people]
        rows = [np.concatenate([p.body, p.left_hand, p.right_hand, p.face]) for p in people]
        return [apply_weights(self.skeleton.to_openpose(r), weights) for r in rows]


class FileSource(KeypointSource):
    """One file over many images: ``by_name`` image file name -> people (COCO result files
    without names: ``#<id>``). ``absent_is_nobody``: an image the file does not mention had
    nobody detected (result files list detections only)."""

    per_image = False

    def __init__(self, path: Path, fmt: Skeleton, layout: str, config: KeypointFormatsConfig,
                 by_name: dict[str, list[Detection]], absent_is_nobody: bool, note: str = ""):
        super().__init__(path, fmt, layout, config, note)
        self.by_name, self.absent_is_nobody = by_name, absent_is_nobody
        self.by_stem = {Path(name).stem: name for name in by_name}

    def entry_for(self, image: Path) -> str | None:
        for key in (image.name, self.by_stem.get(image.stem), f"#{int(image.stem)}" if image.stem.isdigit() else None):
            if key is not None and key in self.by_name:
                return key
        return "" if self.absent_is_nobody else None

    def file_of(self, entry: str | None) -> Path | None:
        return None if entry is None else self.path

    def missing_reason(self, image: Path) -> str:
        return f"{image}: not among the images of {self.path}"

    def names(self) -> list[str]:
        return list(self.by_name)

    def people(self, entry: str, image_size: tuple[int, int]) -> list[PersonKeypoints]:
        return self._convert(self.by_name.get(entry, []), image_size)


def open_keypoints(path: Path | str, keypoint_format: str = AUTO, image_ids: Path | str | None = None,
                   config: KeypointFormatsConfig | None = None) -> KeypointSource:
    """The keypoints at ``path`` (a folder of per-image files or one file over many images) in
    ``keypoint_format`` (``auto``: told from the files' contents). ``image_ids`` names the
    integer ids of a COCO result file (``parsers.read_image_ids``). ``FileNotFoundError`` when
    ``path`` does not exist; ``KeypointFileError`` naming the file for content that is not a
    known format or does not match ``keypoint_format``."""
    path = Path(path)
    if keypoint_format != AUTO:
        skeleton(keypoint_format)  # an unknown name: ValueError listing the known ones
    config = config or load_formats_config()
    if path.is_dir():
        return _open_folder(path, keypoint_format, config)
    if path.is_file():
        return _open_file(path, keypoint_format, image_ids, config)
    raise FileNotFoundError(f"{path}: no such folder or keypoint file")


def _sniffed(folder: Path) -> tuple[str | None, list[tuple[Path, object]]]:
    """The layout of the first files of ``folder`` that have one, and those files' contents
    (unreadable files are left to fail one by one when their image is read)."""
    layout, samples = None, []
    for path in sorted(p for p in folder.glob("*.json") if p.is_file())[:SNIFF_FILES]:
        try:
            data = load_json(path)
        except KeypointFileError:
            continue
        found = parsers.sniff(data)
        if found in parsers.SINGLE_FILE:
            raise KeypointFileError(f"{path}: a {LAYOUT_TITLES[found]} file covers many images: give the file "
                                    "itself, not its folder")
        if found is not None and layout in (None, found):
            layout = found
            samples.append((path, data))
    return layout, samples


def _open_folder(folder: Path, keypoint_format: str, config: KeypointFormatsConfig) -> FolderSource:
    layout, samples = _sniffed(folder)
    if layout is None:  # nothing readable yet: OpenPose's layout, each image failing on its own
        layout = "mediapipe" if keypoint_format == "mediapipe" else (
            "openpose" if keypoint_format in (AUTO, "openpose", "body25b") else "mmpose")
        fmt = "openpose" if keypoint_format == AUTO else keypoint_format
        return FolderSource(folder, SKELETONS[fmt], layout, config)
    if layout == "openpose":
        fmt, note = _openpose_format(samples, keypoint_format, folder)
    elif layout == "mediapipe":
        fmt, note = "mediapipe", ""
    else:
        fmt, note = _mmpose_format(samples, keypoint_format), ""
    _check_requested(folder, layout, fmt, keypoint_format)
    return FolderSource(folder, SKELETONS[fmt], layout, config, note)


def _mmpose_format(samples: list[tuple[Path, object]], keypoint_format: str) -> str:
    for path, data in samples:
        count = parsers.point_count(data, "mmpose")
        if count is not None:
            return parsers.format_by_count(count, path)
    return "coco17" if keypoint_format == AUTO else keypoint_format


def _check_requested(where: Path, layout: str, fmt: str, keypoint_format: str) -> None:
    """``KeypointFileError`` when ``--keypoint-format`` names another format than the files hold."""
    if keypoint_format not in (AUTO, fmt):
        raise KeypointFileError(f"{where}: holds {SKELETONS[fmt].title} ({LAYOUT_TITLES[layout]}), not the "
                                f"{SKELETONS[keypoint_format].title} that --keypoint-format {keypoint_format} asks for")


def _openpose_format(samples: list[tuple[Path, object]], keypoint_format: str, where: Path) -> tuple[str, str]:
    """BODY_25 or BODY_25B (the files look alike) and a note on how it was told."""
    if keypoint_format in ("openpose", "body25b"):
        return keypoint_format, ""
    if keypoint_format != AUTO:
        raise KeypointFileError(f"{where}: OpenPose JSON files hold BODY_25 or BODY_25B (--keypoint-format openpose "
                                f"or body25b), not {SKELETONS[keypoint_format].title}")
    bodies = []
    for path, data in samples:
        try:
            bodies += [p.body for p in parse_openpose(data, path, allow_empty=True)]
        except KeypointFileError:
            continue
    votes = openpose_votes(bodies)
    if votes["body25b"] > votes["openpose"]:
        return "body25b", f"told from the points' geometry ({votes['body25b']} of {len(bodies)} people)"
    if votes["openpose"] == 0:
        return "openpose", "assumed (no person shows the neck or mid-hip; --keypoint-format body25b if it is BODY_25B)"
    return "openpose", ""


def openpose_votes(bodies: list[np.ndarray]) -> dict[str, int]:
    """How many of ``bodies`` (each (25, 3)) look like BODY_25 (a neck between the shoulders
    or a mid-hip between the hips) and like BODY_25B (points 1 and 2, its eyes, beside the
    nose, closer than a fifth of the distance between points 5 and 6, its shoulders)."""
    votes = {"openpose": 0, "body25b": 0}

    def seen(body: np.ndarray, *rows: int) -> bool:
        return bool((body[list(rows), 2] > 0).all())

    def between(body: np.ndarray, middle: int, a: int, b: int) -> bool:
        width = np.linalg.norm(body[a, :2] - body[b, :2])
        return width > 0 and np.linalg.norm(body[middle, :2] - 0.5 * (body[a, :2] + body[b, :2])) < 0.3 * width

    neck, right_shoulder, left_shoulder = OPENPOSE["Neck"], OPENPOSE["RShoulder"], OPENPOSE["LShoulder"]
    mid_hip, right_hip, left_hip = OPENPOSE["MidHip"], OPENPOSE["RHip"], OPENPOSE["LHip"]
    for body in bodies:
        if (seen(body, neck, right_shoulder, left_shoulder) and between(body, neck, right_shoulder, left_shoulder)) or (
                seen(body, mid_hip, right_hip, left_hip) and between(body, mid_hip, right_hip, left_hip)):
            votes["openpose"] += 1
        elif seen(body, 0, 1, 2, 5, 6):
            span = np.linalg.norm(body[5, :2] - body[6, :2])
            near = np.linalg.norm(body[1, :2] - body[0, :2]) + np.linalg.norm(body[2, :2] - body[0, :2])
            votes["body25b"] += int(span > 0 and near < 0.4 * span)
    return votes


def _open_file(path: Path, keypoint_format: str, image_ids: Path | str | None,
               config: KeypointFormatsConfig) -> FileSource:
    data = load_json(path)
    layout = parsers.sniff(data)
    if layout is None:
        raise KeypointFileError(f"{path}: not a keypoint file bodyfit knows (OpenPose, mmpose, MediaPipe, AlphaPose "
                                "or COCO JSON)")
    if layout in PER_IMAGE:
        raise KeypointFileError(f"{path}: a {LAYOUT_TITLES[layout]} file holds one image's people: give the folder "
                                "of such files, one per image")
    count = parsers.point_count(data, layout)
    if count is None:
        raise KeypointFileError(f"{path}: no people in the file, so its format cannot be told")
    fmt = parsers.format_by_count(count, path)
    _check_requested(path, layout, fmt, keypoint_format)
    if layout == "alphapose":
        return FileSource(path, SKELETONS[fmt], layout, config,
                          parsers.parse_alphapose(data, path, SKELETONS[fmt], config), absent_is_nobody=True)
    if layout == "coco":
        by_name, _ = parsers.parse_coco(data, path, SKELETONS[fmt], config)
        return FileSource(path, SKELETONS[fmt], layout, config, by_name, absent_is_nobody=False)
    names = parsers.read_image_ids(image_ids) if image_ids is not None else {}
    by_id = parsers.parse_coco_results(data, path, SKELETONS[fmt], config)
    by_name = {parsers.name_key(names[i]) if i in names else f"#{i}": people for i, people in by_id.items()}
    note = "" if image_ids is not None else "image ids matched to numbered file names"
    return FileSource(path, SKELETONS[fmt], layout, config, by_name, absent_is_nobody=True, note=note)
