"""What the report shows, read from a bodyfit output folder alone: every image's record
(``results/<image>/image.json``), its overlay, and each person's entry in it.

The report is rebuilt from these files, so nothing here depends on the run that wrote them.
"""
from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bodyfit.fileio.names import natural_key

log = logging.getLogger("bodyfit")

# Columns the table shows by name; every other number in a person's entry gets a column of its own.
KNOWN_KEYS = frozenset({"index", "status", "reason", "loss", "reprojection_error_px", "turned", "time_s",
                        "model_type", "gender", "gender_choice", "quality", "flags", "track_id",
                        "frame_index"})


class ReportError(ValueError):
    """The folder is not a bodyfit output folder, or the report cannot be written there."""


@dataclass
class Person:
    """One person's entry of an image record (``entry``, as ``image.json`` has it)."""

    image_id: str
    entry: dict[str, Any]

    @property
    def index(self) -> int:
        return int(self.entry.get("index", -1))

    @property
    def key(self) -> str:
        """``<image>/<pid:03d>``, the person's name in the page (and in its URL fragment)."""
        return f"{self.image_id}/{self.index:03d}"

    @property
    def status(self) -> str:
        return str(self.entry.get("status", "unknown"))

    def number(self, name: str) -> float | None:
        """The entry's finite number ``name``, or None."""
        return finite(self.entry.get(name))

    def quality(self) -> dict[str, dict[str, Any]]:
        """``{name: {"value", "threshold", "flag"}}``; empty when the run measured none."""
        quality = self.entry.get("quality")
        return quality if isinstance(quality, dict) else {}

    def flags(self) -> list[str]:
        flags = self.entry.get("flags")
        return [str(f) for f in flags] if isinstance(flags, list) else []


@dataclass
class ImageEntry:
    """An image: its id, its record, the URL of its overlay (or of the image itself when
    there is no overlay; None when neither is found), relative to the report."""

    image_id: str
    record: dict[str, Any]
    picture: str | None
    is_overlay: bool
    people: list[Person] = field(default_factory=list)

    @property
    def status(self) -> str:
        return str(self.record.get("status", "unknown"))


def finite(value: Any) -> float | None:
    """``value`` as a float when it is a finite number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def check_output_folder(output: Path) -> None:
    """Raises ReportError unless ``output`` holds a bodyfit run (``summary.json`` or ``results/``)."""
    if not output.is_dir():
        raise ReportError(f"{output}: no such folder")
    if not (output / "summary.json").is_file() and not (output / "results").is_dir():
        raise ReportError(f"{output}: not a bodyfit output folder (it has neither summary.json nor results/; "
                          "give the folder that fit.py's --output named)")


def read_json(path: Path) -> Any:
    """The JSON in ``path``; ReportError naming the file when it cannot be read."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ReportError(f"{path}: cannot read: {error}") from error


def read_records(output: Path) -> dict[str, dict[str, Any]]:
    """Every image's record by image id: ``summary.json``'s entries, replaced by the records
    on disk (``results/**/image.json``, the newer truth); an unreadable record is shown as a
    failed image that says so."""
    records: dict[str, dict[str, Any]] = {}
    if (output / "summary.json").is_file():
        images = read_json(output / "summary.json").get("images", {})
        records.update({str(k): v for k, v in images.items() if isinstance(v, dict)})
    for path in (output / "results").rglob("image.json"):
        image_id = path.parent.relative_to(output / "results").as_posix()
        try:
            record = read_json(path)
            if not isinstance(record, dict):
                raise ReportError(f"{path}: not a JSON object")
        except ReportError as error:
            log.warning("report: %s", error)
            record = {"status": "failed", "reason": f"unreadable record: {error}", "people": []}
        records[image_id] = record
    return {image_id: records[image_id] for image_id in sorted(records, key=natural_key)}


def picture_of(output: Path, image_id: str, record: dict[str, Any]) -> tuple[str | None, bool]:
    """The overlay's URL relative to the report, else the source image's (when it can still
    be found), else None; and whether it is the overlay."""
    overlay = output / "images" / f"{image_id}.png"
    if overlay.is_file():
        return quote(f"images/{image_id}.png"), True
    source = record.get("image")
    if not isinstance(source, str) or not source:
        return None, False
    path = Path(source) if Path(source).is_absolute() else Path.cwd() / source
    if not path.is_file():
        return None, False
    return quote(Path(os.path.relpath(path.resolve(), output.resolve())).as_posix()), False


def collect(output: Path) -> list[ImageEntry]:
    """The images of ``output`` (natural order of their ids) with their people."""
    check_output_folder(output)
    images = []
    for image_id, record in read_records(output).items():
        picture, is_overlay = picture_of(output, image_id, record)
        people = [Person(image_id, entry) for entry in record.get("people", []) if isinstance(entry, dict)]
        images.append(ImageEntry(image_id, record, picture, is_overlay, people))
    return images


def quality_names(people: list[Person]) -> list[str]:
    """The quality figures any person has, in the order they first appear."""
    names: dict[str, None] = {}
    for person in people:
        names.update((name, None) for name in person.quality())
    return list(names)


def extra_numbers(people: list[Person]) -> list[str]:
    """Numeric entry fields beyond the known columns (``intersecting_pairs``, ...), in order of appearance."""
    names: dict[str, None] = {}
    for person in people:
        names.update((k, None) for k, v in person.entry.items() if k not in KNOWN_KEYS and finite(v) is not None)
    return list(names)
