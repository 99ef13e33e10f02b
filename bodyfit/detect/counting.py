"""People found against people visible: hand counts of photos (``people.json`` beside them)
and the matching of detected person boxes to the people counted.

``people.json``: {"photos": {"<file>": {"people": [{"box": [x0, y0, x1, y1], "view":
"full_body" | "waist_up", "edge": bool, "note": str, "gender": "female" | "male" (optional,
labelled by hand)}, ...]}}}, boxes in image pixels.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bodyfit.detect.proposals import box_iou

VIEWS = ("full_body", "waist_up")
GENDERS = ("female", "male")


@dataclass(frozen=True)
class VisiblePerson:
    """A person counted by hand: ``box`` (4,) around their visible part, ``view`` one of
    ``VIEWS``, ``edge`` whether the frame cuts them, ``gender`` as labelled by hand (or None)."""

    box: tuple[float, float, float, float]
    view: str
    edge: bool
    note: str = ""
    gender: str | None = None


@dataclass(frozen=True)
class Match:
    """Detections matched to the people counted in one photo: ``found[i]`` is the detection
    index matched to person ``i`` or -1; ``extra`` the detections matched to nobody (someone
    not counted, or a second detection of one person)."""

    found: tuple[int, ...]
    extra: tuple[int, ...]

    @property
    def count(self) -> int:
        return sum(index >= 0 for index in self.found)


def read_people_counts(path: Path | str) -> dict[str, list[VisiblePerson]]:
    """Photo file name -> the people counted in it; ``ValueError`` naming ``path`` and the
    entry when the file is malformed."""
    path = Path(path)
    try:
        photos = json.loads(path.read_text())["photos"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(f"{path}: not a people-count file ({error!r})") from error
    counts = {}
    for name, record in photos.items():
        people = []
        for index, person in enumerate(record.get("people", [])):
            box = person.get("box")
            if (not isinstance(box, list) or len(box) != 4 or person.get("view") not in VIEWS
                    or not isinstance(person.get("edge"), bool) or person.get("gender", "female") not in GENDERS):
                raise ValueError(f"{path}: {name} person {index}: needs box [x0, y0, x1, y1], view in "
                                 f"{VIEWS}, edge true/false and gender (if any) in {GENDERS}, got {person!r}")
            people.append(VisiblePerson(tuple(float(v) for v in box), person["view"], person["edge"],
                                        person.get("note", ""), person.get("gender")))
        counts[name] = people
    return counts


def match_people(boxes: list, people: list[VisiblePerson], min_inside: float = 0.5) -> Match:
    """Matches detected person boxes (N of (4,)) to the people counted: each pair where at least
    ``min_inside`` of the detection's box lies inside the person's box is a candidate, taken
    by decreasing intersection over union, one detection per person."""
    found = [-1] * len(people)
    if len(boxes) and people:
        detected = np.asarray(boxes, float).reshape(-1, 4)
        counted = np.array([p.box for p in people], float)
        iou = box_iou(detected, counted)  # (N, P)
        inside = _inside(detected, counted)  # (N, P)
        pairs = [(iou[d, p], d, p) for d in range(len(detected)) for p in range(len(people))
                 if inside[d, p] >= min_inside]
        used: set[int] = set()
        for _, d, p in sorted(pairs, reverse=True):
            if found[p] < 0 and d not in used:
                found[p] = d
                used.add(d)
    extra = tuple(d for d in range(len(boxes)) if d not in set(found))
    return Match(tuple(found), extra)


def _inside(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The fraction of each box of ``a`` (N, 4) inside each box of ``b`` (M, 4): (N, M)."""
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=-1)
    return inter / np.maximum(np.prod(np.clip(a[:, 2:] - a[:, :2], 1e-9, None), axis=-1)[:, None], 1e-9)
