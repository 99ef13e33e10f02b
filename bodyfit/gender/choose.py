"""Choosing each person's body model: Homogenus's rules first, then the classifier's
probability against the threshold.

Shapes: K keypoints (x, y, confidence) in bodyfit's layout, S the crop side.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bodyfit.gender.config import GenderConfig, load_gender_config
from bodyfit.gender.crops import SquareBox, cut_crop, person_box
from bodyfit.gender.network import CLASSES, load_checkpoint
from bodyfit.gender.rules import neutral_reason


@dataclass(frozen=True)
class GenderChoice:
    """The model chosen for one person: ``gender`` (neutral, male or female), the classifier's
    ``p_female`` / ``p_male`` (NaN when a rule kept the person neutral before classifying) and
    ``reason`` (why neutral; "" for a gendered choice)."""

    gender: str
    p_female: float = math.nan
    p_male: float = math.nan
    reason: str = ""

    @property
    def probability(self) -> float:
        """The classifier's probability of the gender it leant to (NaN when not classified)."""
        return max(self.p_female, self.p_male) if not math.isnan(self.p_female) else math.nan

    def as_record(self) -> dict:
        """JSON-ready: gender, p_female, p_male (None when not classified), reason."""
        def number(value: float) -> float | None:
            return None if math.isnan(value) else round(float(value), 4)
        return {"gender": self.gender, "p_female": number(self.p_female), "p_male": number(self.p_male),
                "reason": self.reason}


def decide(p_female: float, threshold: float) -> GenderChoice:
    """The choice for a classified person: the gender whose probability passes ``threshold``,
    else neutral."""
    p_male = 1.0 - p_female
    for gender, p in zip(CLASSES, (p_female, p_male)):
        if p >= threshold:
            return GenderChoice(gender, p_female, p_male)
    return GenderChoice("neutral", p_female, p_male, f"p {max(p_female, p_male):.2f} < threshold {threshold}")


class GenderChooser:
    """The shipped (or a given) classifier with the rules of ``config`` (default
    ``cfg/gender.yaml``), on ``device``."""

    def __init__(self, checkpoint: Path | str | None = None, config: GenderConfig | None = None,
                 device: torch.device | str = "cpu") -> None:
        self.config = config or load_gender_config()
        self.net, self.about = load_checkpoint(checkpoint, device)

    def boxes(self, people: list[np.ndarray]) -> list[SquareBox | None]:
        crop = self.config.crop
        return [person_box(keypoints, crop.confidence_threshold, crop.margin) for keypoints in people]

    def choose(self, image: np.ndarray, people: list[np.ndarray]) -> list[GenderChoice]:
        """One choice per person of ``image`` (H, W, 3) uint8 RGB, each given by keypoints (K, 3)."""
        boxes = self.boxes(people)
        return self.choose_with(people, boxes, lambda index: cut_crop(image, boxes[index], self.net.image_size))

    def choose_with(self, people: list[np.ndarray], boxes: list[SquareBox | None],
                    crop_of: Callable[[int], np.ndarray]) -> list[GenderChoice]:
        """The choices for ``people`` (keypoints (K, 3)) with their ``boxes``; ``crop_of(i)``
        gives person i's crop (S, S, 3) uint8, asked only for people no rule keeps neutral."""
        reasons = [neutral_reason(keypoints, box, self.config.crop, self.config.rules)
                   for keypoints, box in zip(people, boxes)]
        choices = [GenderChoice("neutral", reason=reason) for reason in reasons]
        todo = [index for index, reason in enumerate(reasons) if not reason]
        if todo:
            crops = torch.as_tensor(np.stack([crop_of(index) for index in todo]))
            p_female = self.net.probabilities(crops)[:, 0].numpy()
            for index, p in zip(todo, p_female):
                choices[index] = decide(float(p), self.config.rules.threshold)
        return choices
