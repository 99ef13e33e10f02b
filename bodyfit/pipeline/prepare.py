"""From an image and its keypoint file to person tasks, or a record saying why not.

One bad image never stops a run: every problem with an image or its keypoints ends as a
failed record naming the file and the problem.

Shapes: K keypoints.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from bodyfit.fileio.images import ImageError, read_image, read_image_size
from bodyfit.fileio.openpose_json import ImageItem, KeypointFileError, PersonKeypoints, read_openpose
from bodyfit.fileio.intrinsics import Intrinsics, resolve_intrinsics
from bodyfit.fitting.config import FitConfig
from bodyfit.fitting.tasks import ModelKey, PersonTask, build_task

if TYPE_CHECKING:
    from bodyfit.gender.choose import GenderChoice

log = logging.getLogger("bodyfit")


class ChoosesGender(Protocol):
    """Picks each person's body-model gender from the image (H, W, 3) and their keypoints
    (K, 3): ``gender.choose.GenderChooser``."""

    def choose(self, image: np.ndarray, people: list[np.ndarray]) -> list[GenderChoice]: ...


@dataclass
class PreparedImage:
    """An image read and checked: its intrinsics, its people's tasks and the record of those
    that were skipped (``record["people"]``); ``failed`` when the image cannot be fitted."""

    item: ImageItem
    record: dict[str, Any]
    intrinsics: Intrinsics | None = None
    tasks: list[PersonTask] = field(default_factory=list)
    people_in_file: int = 0

    @property
    def failed(self) -> bool:
        return self.record.get("status") == "failed"


def read_people(item: ImageItem, image_size: tuple[int, int]) -> list[PersonKeypoints]:
    """Every person of ``item`` in pixels of its image (``image_size``: height, width): from
    its source (any format, ``fileio.formats``) or, without one, its OpenPose file;
    ``KeypointFileError`` naming what is missing or unusable."""
    if item.source is not None:
        if item.entry is None:
            raise KeypointFileError(item.source.missing_reason(item.image))
        return item.source.people(item.entry, image_size)
    if item.keypoints is None:
        raise KeypointFileError(f"{item.image}: no keypoint file {item.stem}_keypoints.json")
    return read_openpose(item.keypoints, allow_empty=True)


def prepare_image(item: ImageItem, config: FitConfig, model: ModelKey, focal_length: str | float,
                  max_people: int | None, chooser: ChoosesGender | None = None) -> PreparedImage:
    """Reads ``item``'s image size and keypoints and builds one task per fittable person, with
    ``model``; with a ``chooser`` (``--gender auto``) each person's gender is chosen from the
    image (read for it) and recorded in the task."""
    prepared = PreparedImage(item, {"image": str(item.image), "people": []})
    try:
        if item.conflict:
            raise ValueError(f"{', '.join(str(p) for p in item.conflict)} share the stem {item.stem!r} and one "
                             f"keypoint file: rename all but one")
        pixels = read_image(item.image) if chooser else None  # the classifier needs the image itself
        height, width = pixels.shape[:2] if pixels is not None else read_image_size(item.image)
        everyone = read_people(item, (height, width))
        people = everyone[:max_people]
        prepared.intrinsics = resolve_intrinsics(item.image, width, height, focal_length)
        layouts = [person.to_layout() for person in people]
        choices = chooser.choose(pixels, layouts) if chooser and layouts else [None] * len(people)
    except (ImageError, KeypointFileError, ValueError) as error:
        prepared.record.update(status="failed", reason=str(error))
        log.warning("%s: failed: %s", item.stem, error)
        return prepared
    intrinsics = prepared.intrinsics
    prepared.record["intrinsics"] = {"fx": intrinsics.fx, "fy": intrinsics.fy, "cx": intrinsics.cx,
                                     "cy": intrinsics.cy, "source": intrinsics.source}
    prepared.record["image_size"] = [height, width]
    for index, (keypoints, choice) in enumerate(zip(layouts, choices)):
        key = model if choice is None else ModelKey(model.model_type, choice.gender)
        task, reason = build_task(keypoints, intrinsics.as_array(), (height, width), config, item.stem, index, key)
        if task is not None and choice is not None:
            task.gender_choice = choice.as_record()
        if task is None:
            log.info("%s person %d skipped: %s", item.stem, index, reason)
            prepared.record["people"].append({"index": index, "status": "skipped", "reason": reason})
        else:
            prepared.tasks.append(task)
    prepared.people_in_file = len(everyone)
    return prepared
