"""Video files through PyAV (the ``av`` wheel carries FFmpeg; ``pip install -e '.[video]'``):
reading frames with the frame rate (mp4, avi, webm, anything FFmpeg decodes), extracting them
as numbered JPEGs (quality 95; OpenPose's naming, ``<video>_<12-digit frame>.jpg``; a PNG of
a full-HD frame takes several times longer to write), writing an H.264 mp4.

Shapes: H, W image height and width; frames are RGB uint8 (H, W, 3).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from bodyfit.fileio.atomic import atomic_path

FRAME_DIGITS = 12


class VideoError(ValueError):
    """A video that cannot be read or written; the message names the file and the problem."""


def _av():
    try:
        import av
    except ImportError as error:
        raise VideoError("reading and writing videos needs PyAV: pip install -e '.[video]' (or pip install av)") from error
    return av


@dataclass(frozen=True)
class VideoInfo:
    """``fps`` frames per second, ``frames`` the container's frame count (0 when it does not
    say), ``width``, ``height`` pixels."""

    fps: float
    frames: int
    width: int
    height: int


def frame_name(video: str, index: int) -> str:
    """``<video>_<12-digit index>`` (OpenPose's naming of video frames)."""
    return f"{video}_{index:0{FRAME_DIGITS}d}"


def _open(path: Path):
    av = _av()
    if not path.is_file():
        raise VideoError(f"{path}: no such video file")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, ValueError) as error:
        raise VideoError(f"{path}: cannot open the video ({error})") from error
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path}: no video stream in the file")
    return container


def video_info(path: Path | str) -> VideoInfo:
    """The frame rate, frame count and size of a video file."""
    path = Path(path)
    container = _open(path)
    with container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not rate:
            raise VideoError(f"{path}: the video stream gives no frame rate")
        return VideoInfo(float(rate), int(stream.frames or 0), stream.codec_context.width, stream.codec_context.height)


def read_frames(path: Path | str, max_frames: int | None = None, stride: int = 1) -> Iterator[np.ndarray]:
    """RGB frames (H, W, 3) of a video: every ``stride``-th, at most ``max_frames`` of them."""
    if stride < 1:
        raise ValueError(f"stride must be at least 1, got {stride}")
    path = Path(path)
    av = _av()
    container = _open(path)
    kept = 0
    with container:
        try:
            for index, frame in enumerate(container.decode(video=0)):
                if max_frames is not None and kept >= max_frames:
                    return
                if index % stride == 0:
                    kept += 1
                    yield frame.to_ndarray(format="rgb24")
        except av.error.FFmpegError as error:
            raise VideoError(f"{path}: cannot decode frame {index + 1} ({error})") from error


def extract_frames(path: Path | str, folder: Path | str, max_frames: int | None = None,
                   stride: int = 1, prefix: str | None = None) -> tuple[list[Path], float]:
    """Writes the frames of a video as ``folder/<prefix>_<12-digit>.jpg`` (``prefix``: the
    video's stem unless given; numbered 0, 1, ... over the frames kept) and returns their
    paths and the kept frames' rate (fps / stride). Frames already extracted are kept (a rerun
    resumes)."""
    path, folder = Path(path), Path(folder)
    info = video_info(path)
    paths = []
    for index, frame in enumerate(read_frames(path, max_frames, stride)):
        target = folder / f"{frame_name(prefix or path.stem, index)}.jpg"
        if not target.is_file():
            write_jpeg(target, frame)
        paths.append(target)
    if not paths:
        raise VideoError(f"{path}: no frame could be read")
    return paths, info.fps / stride


def write_jpeg(path: Path | str, image_rgb: np.ndarray, quality: int = 95) -> None:
    """An RGB uint8 image (H, W, 3) as JPEG, atomically."""
    with atomic_path(Path(path)) as tmp:
        with open(tmp, "wb") as handle:
            Image.fromarray(np.ascontiguousarray(image_rgb, dtype=np.uint8)).save(handle, format="JPEG", quality=quality)


def write_video(path: Path | str, frames: Iterable[np.ndarray], fps: float, crf: int = 23) -> int:
    """Writes RGB frames (H, W, 3), all one size, as an H.264 mp4 at ``fps`` (sizes rounded
    down to even, as yuv420p needs), atomically; the number of frames written."""
    av = _av()
    path = Path(path)
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    count = 0
    with atomic_path(path, suffix=".mp4") as tmp:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            stream = None
            for frame in frames:
                frame = np.ascontiguousarray(frame, dtype=np.uint8)
                if stream is None:
                    stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
                    stream.height, stream.width = frame.shape[0] // 2 * 2, frame.shape[1] // 2 * 2
                    stream.pix_fmt, stream.options = "yuv420p", {"crf": str(crf)}
                if frame.shape[:2] != (stream.height + frame.shape[0] % 2, stream.width + frame.shape[1] % 2):
                    raise ValueError(f"{path}: frame {count} is {frame.shape[:2]}, the first was "
                                     f"{(stream.height, stream.width)}")
                image = av.VideoFrame.from_ndarray(frame[:stream.height, :stream.width], format="rgb24")
                container.mux(stream.encode(image))
                count += 1
            if stream is None:
                raise ValueError(f"{path}: no frames to write")
            container.mux(stream.encode())
    return count
