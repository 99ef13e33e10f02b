"""The input of a multi-view run (``fit.py --cameras CALIB --images VIEWS``): a calibration,
one folder of frames per camera (``VIEWS/<camera>/<frame>.jpg``) or one video per camera
(``VIEWS/<camera>.mp4``, with ``--video``), and their keypoints (``KPVIEWS/<camera>/...``
in any supported format, or detected per camera into ``OUTPUT/keypoints/<camera>``).

Frames with one stem in every camera folder are one instant (a camera may lack some). The
folders must match the calibration: a camera without a folder, a folder (or video) without a
camera, or images of another size than the calibration's are each a ``RunError`` naming the
file. Calibrations without image sizes (EasyMocap's without ``H_``/``W_``) take them from the
images.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bodyfit.fileio.calibration import read_calibration
from bodyfit.fileio.cameras import CalibrationError, CameraRig
from bodyfit.fileio.images import ImageError, read_image_size
from bodyfit.fileio.openpose_json import ImageItem, list_images
from bodyfit.pipeline.runner import RunError, RunOptions, match_keypoints
from bodyfit.fileio.names import natural_key

log = logging.getLogger("bodyfit")

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


@dataclass
class Instant:
    """One instant of the rig: ``stem``, and per camera name its image and keypoints (cameras
    that have no frame of this stem are absent). ``conflict`` is empty (the runner's
    contract: images sharing a stem are reported per camera)."""

    stem: str
    views: dict[str, ImageItem]
    conflict: tuple = ()


@dataclass
class CameraViews:
    """The views of a calibrated rig: ``calibration`` (a Pose2Sim Calib.toml, EasyMocap's
    intri/extri.yml or a Qualisys .qca.txt), ``views`` (a folder of per-camera frame folders,
    or with ``videos`` of per-camera video files), ``fps`` (the frames' rate: the videos'
    after extraction, else as given)."""

    calibration: Path
    views: Path
    videos: bool = False
    fps: float | None = None
    max_frames: int | None = None
    stride: int = 1
    rig: CameraRig | None = field(default=None, init=False)

    def load_rig(self) -> CameraRig:
        """The calibration, read once; ``RunError`` naming the file and the field, or saying
        that one camera is not a rig."""
        if self.rig is None:
            try:
                rig = read_calibration(self.calibration)
            except (CalibrationError, OSError) as error:
                raise RunError(str(error)) from error
            if len(rig) < 2:
                raise RunError(f"{self.calibration}: one camera ({rig.names[0]}); --cameras needs two or more "
                               "(fit one camera's images without --cameras)")
            self.rig = rig
        return self.rig

    def describe(self) -> dict[str, Any]:
        return {"calibration": str(self.calibration), "views": str(self.views), "videos": self.videos,
                "fps": self.fps, "cameras": self.rig.names if self.rig else None}

    def frame_folders(self, output: Path) -> dict[str, Path]:
        """Camera name -> its folder of frames (videos extracted into ``OUTPUT/frames/<camera>``)."""
        rig = self.load_rig()
        if not Path(self.views).is_dir():
            raise RunError(f"{self.views}: not a folder of camera {'videos' if self.videos else 'folders'}")
        if self.videos:
            return self._extract(rig, output)
        folders = {path.name: path for path in sorted(Path(self.views).iterdir()) if path.is_dir()}
        missing = [name for name in rig.names if name not in folders]
        if missing:
            raise RunError(f"{self.views}: no folder for camera {missing[0]!r} of {self.calibration} "
                           f"(expected {Path(self.views) / missing[0]}; cameras: {', '.join(rig.names)})")
        extra = [name for name, path in folders.items() if name not in rig.names and list_images(path)]
        if extra:
            raise RunError(f"{Path(self.views) / extra[0]}: a folder of images for a camera that {self.calibration} "
                           f"does not have (cameras: {', '.join(rig.names)})")
        return {name: folders[name] for name in rig.names}

    def _extract(self, rig: CameraRig, output: Path) -> dict[str, Path]:
        from bodyfit.fileio.video import VideoError, extract_frames

        videos = {path.stem: path for path in sorted(Path(self.views).iterdir())
                  if path.suffix.lower() in VIDEO_SUFFIXES}
        missing = [name for name in rig.names if name not in videos]
        if missing:
            raise RunError(f"{self.views}: no video for camera {missing[0]!r} of {self.calibration} "
                           f"(expected {missing[0]}.mp4 or another of {', '.join(VIDEO_SUFFIXES)})")
        extra = [name for name in videos if name not in rig.names]
        if extra:
            raise RunError(f"{videos[extra[0]]}: a video for a camera that {self.calibration} does not have "
                           f"(cameras: {', '.join(rig.names)})")
        folders, rates = {}, set()
        for name in rig.names:
            try:
                _, fps = extract_frames(videos[name], output / "frames" / name, self.max_frames, self.stride, "frame")
            except VideoError as error:
                raise RunError(str(error)) from error
            folders[name] = output / "frames" / name
            rates.add(round(fps, 3))
        if len(rates) > 1:
            log.warning("%s: the videos have different frame rates %s: frames are paired by number", self.views,
                        sorted(rates))
        self.fps = min(rates)
        return folders

    def _check_sizes(self, rig: CameraRig, name: str, items: list[ImageItem]) -> None:
        """Every frame's size (read from its header) against the camera's calibrated one (the
        first frame's fills it in where the calibration has none)."""
        if not items:
            raise RunError(f"{Path(self.views) / name}: no images for camera {name!r}")
        for item in items:
            try:
                size = tuple(read_image_size(item.image))
            except ImageError as error:
                raise RunError(str(error)) from error
            camera = rig[name]
            if camera.image_size == (0, 0):
                rig.cameras[rig.names.index(name)] = replace(camera, image_size=size)
            elif tuple(camera.image_size) != size:
                raise RunError(f"{item.image}: image is {size[1]}x{size[0]} (width x height) but {self.calibration} "
                               f"gives camera {name!r} {camera.image_size[1]}x{camera.image_size[0]}")

    def items(self, options: RunOptions) -> list[Instant]:
        """The instants: every camera's frames paired with their keypoints, grouped by stem."""
        rig = self.load_rig()
        folders = self.frame_folders(options.output)
        by_camera: dict[str, list[ImageItem]] = {}
        for name, folder in folders.items():
            keypoints = None
            if options.keypoints is not None:
                keypoints = Path(options.keypoints) / name
                if not keypoints.exists():
                    raise RunError(f"{options.keypoints}: no keypoints for camera {name!r} (expected {keypoints})")
            by_camera[name] = match_keypoints(folder, options, keypoints, options.output / "keypoints" / name)
            self._check_sizes(rig, name, by_camera[name])
        stems = sorted({item.stem for items in by_camera.values() for item in items}, key=natural_key)
        instants = [Instant(stem, {}) for stem in stems]
        position = {stem: index for index, stem in enumerate(stems)}
        for name, items in by_camera.items():
            for item in items:
                if item.conflict:  # the runner reports it; the camera sits this instant out
                    instants[position[item.stem]].conflict += item.conflict
                else:
                    instants[position[item.stem]].views[name] = item
        partial = sum(len(instant.views) < len(rig) for instant in instants)
        if partial:
            log.warning("%d of %d instants lack a frame in some camera", partial, len(instants))
        return instants
