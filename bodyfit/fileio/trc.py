"""TRC marker files (OpenSim, Pose2Sim): 3D marker trajectories as tab-separated text.

Layout: ``PathFileType 4 (X/Y/Z) <file name>``; the keys ``DataRate CameraRate NumFrames
NumMarkers Units OrigDataRate OrigDataStartFrame OrigNumFrames`` and their values;
``Frame# Time <marker> ...`` (each name over its three columns); ``X1 Y1 Z1 X2 ...``; a blank
line; then one row per frame: frame number, time (s), x y z of every marker. A missing marker is
three empty fields.

Shapes: T frames, M markers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bodyfit.fileio.atomic import write_text_atomic

UNITS_PER_METRE = {"m": 1.0, "mm": 1000.0}
HEADER_KEYS = ("DataRate", "CameraRate", "NumFrames", "NumMarkers", "Units", "OrigDataRate",
               "OrigDataStartFrame", "OrigNumFrames")


@dataclass
class TrcData:
    """A TRC file's content: ``markers`` (T, M, 3) in ``units``, NaN where a marker is missing;
    ``frame_numbers`` (T,) and ``times`` (T,) seconds as the file gives them."""

    names: list[str]
    fps: float
    units: str
    frame_numbers: np.ndarray
    times: np.ndarray
    markers: np.ndarray


def zup_to_yup(points: np.ndarray) -> np.ndarray:
    """(..., 3) points of a Z-up world (Qualisys', Pose2Sim's calibrations) in OpenSim's Y-up one:
    (x, y, z) -> (y, z, x), Pose2Sim's ``zup2yup``. A rotation (a cyclic permutation, det +1):
    up (Z) becomes Y, the world's X becomes Z and its Y becomes X."""
    points = np.asarray(points)
    return points[..., [1, 2, 0]]


def _number(value: float) -> str:
    return "" if math.isnan(value) else repr(float(value))  # repr: the shortest exact text


def write_trc(path: Path | str, markers: np.ndarray, names: list[str], fps: float, units: str = "m",
              first_frame: int = 1, y_up: bool = False) -> None:
    """``markers`` (T, M, 3) metres, NaN where missing, as a TRC file (atomically). ``units`` "m"
    or "mm" (values scaled); frames are numbered from ``first_frame``, the time of frame n is
    ``(n - 1) / fps`` (frame 1 at 0 s, so tracks that start late line up); ``y_up`` turns a Z-up world into OpenSim's Y-up one
    (``zup_to_yup``)."""
    markers = np.asarray(markers, dtype=np.float64)
    if markers.ndim != 3 or markers.shape[2] != 3:
        raise ValueError(f"markers must be (T, M, 3), got {markers.shape}")
    if len(names) != markers.shape[1]:
        raise ValueError(f"{len(names)} names for {markers.shape[1]} markers")
    bad = [name for name in names if not name or any(c in name for c in "\t\r\n")]
    if bad:
        raise ValueError(f"marker names must be non-empty without tabs or line breaks, got {bad[0]!r}")
    if units not in UNITS_PER_METRE:
        raise ValueError(f"units must be one of {sorted(UNITS_PER_METRE)}, got {units!r}")
    if not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be positive, got {fps}")
    if y_up:
        markers = zup_to_yup(markers)
    markers = markers * UNITS_PER_METRE[units]
    count, marker_count = markers.shape[:2]
    values = (fps, fps, count, marker_count, units, fps, first_frame, count)
    lines = [f"PathFileType\t4\t(X/Y/Z)\t{Path(path).name}",
             "\t".join(HEADER_KEYS),
             "\t".join(str(value) for value in values),
             "Frame#\tTime\t" + "\t\t\t".join(names) + "\t\t",
             "\t\t" + "\t".join(f"X{i}\tY{i}\tZ{i}" for i in range(1, marker_count + 1)),
             ""]
    for index, frame in enumerate(markers):
        fields = [str(first_frame + index), _number((first_frame - 1 + index) / fps)]
        fields += [_number(value) for value in frame.reshape(-1)]
        lines.append("\t".join(fields))
    write_text_atomic(path, "\n".join(lines) + "\n")


def read_trc(path: Path | str) -> TrcData:
    """A TRC file; a malformed one raises ``ValueError`` naming the file and the line."""
    path = Path(path)
    lines = path.read_text().splitlines()
    if len(lines) < 5 or not lines[0].startswith("PathFileType"):
        raise ValueError(f"{path}: line 1: not a TRC file (it must start with 'PathFileType')")
    header = dict(zip(lines[1].split("\t"), lines[2].split("\t")))
    missing = [key for key in ("DataRate", "NumFrames", "NumMarkers", "Units") if key not in header]
    if missing:
        raise ValueError(f"{path}: line 2: no {missing[0]!r} among the header keys")
    try:
        fps, count, marker_count = float(header["DataRate"]), int(header["NumFrames"]), int(header["NumMarkers"])
    except ValueError:
        raise ValueError(f"{path}: line 3: DataRate, NumFrames and NumMarkers must be numbers, "
                         f"got {lines[2]!r}") from None
    if not lines[3].startswith("Frame#"):
        raise ValueError(f"{path}: line 4: must start with 'Frame#', got {lines[3][:40]!r}")
    names = [name for name in lines[3].split("\t")[2:] if name.strip()]
    if len(names) != marker_count:
        raise ValueError(f"{path}: line 4: {len(names)} marker names, line 3 says NumMarkers {marker_count}")
    rows = [(number, line) for number, line in enumerate(lines[5:], start=6) if line.strip()]
    if len(rows) != count:
        raise ValueError(f"{path}: line 3: NumFrames says {count}, the file has {len(rows)} rows")
    table = np.array([_row(line, number, 2 + 3 * marker_count, path) for number, line in rows])
    table = table.reshape(count, 2 + 3 * marker_count)
    return TrcData(names=names, fps=fps, units=header["Units"],
                   frame_numbers=table[:, 0].astype(np.int64), times=table[:, 1],
                   markers=table[:, 2:].reshape(count, marker_count, 3))


def _row(line: str, number: int, width: int, path: Path) -> list[float]:
    """The ``width`` numbers of data line ``number``; empty fields are NaN, as are trailing fields
    that a writer dropped."""
    fields = line.split("\t")
    if len(fields) > width and any(field.strip() for field in fields[width:]):
        raise ValueError(f"{path}: line {number}: {len(fields)} fields, at most {width} expected")
    fields = (fields + [""] * width)[:width]
    if not (fields[0].strip() and fields[1].strip()):
        raise ValueError(f"{path}: line {number}: no frame number or time")
    try:
        return [float(field) if field.strip() else math.nan for field in fields]
    except ValueError:
        raise ValueError(f"{path}: line {number}: a field is not a number: {line[:60]!r}") from None
