"""Finding every visible person before the landmark models run on each.

Two stages. Proposals (``detect/proposals.py``: faces and poses on tiles, HOG windows) are
taken best first; a proposal that a person found earlier already explains is skipped, the
others are confirmed by the pose model on a square crop around the proposal, with the heads of
the people found so far painted over: a confirmed person has ``min_visible_landmarks`` visible
landmarks, lies where the proposal said, and is nobody found before. Then the masking pass
(the finder before issue #19, alone when ``finder: masking``): holistic on the whole image
with everyone found painted over, until nobody new is found.

Pixels of the full image, x right, y down; boxes are (x0, y0, x1, y1).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from bodyfit.detect.config import DetectConfig
from bodyfit.detect.crops import (Crop, box_window, clip_box, grow, mean_color, overlap_fraction, paint, square_crop,
                          head_window)
from bodyfit.detect.landmarks import Landmarks, head_box, heads_coincide, landmark_box, same_person
from bodyfit.detect.proposals import Proposal, ProposalModels

LandmarkModel = Callable[[Crop], "Landmarks | None"]


class PersonFinder:
    """Finds people with ``holistic_on`` (a crop -> one person's landmarks or ``None``) and,
    when ``config.finder`` is "proposals", the proposal models built from ``mediapipe``."""

    def __init__(self, config: DetectConfig, holistic_on: LandmarkModel, mediapipe) -> None:
        self.config = config
        self._holistic_on = holistic_on
        self._models = ProposalModels(config, mediapipe) if config.finder == "proposals" else None

    def close(self) -> None:
        if self._models is not None:
            self._models.close()

    def find(self, image: np.ndarray) -> list[Landmarks]:
        """Everyone found in ``image`` (H, W, 3) RGB uint8: confirmed proposals first (best
        proposal first), then the masking pass's finds, at most ``max_people``."""
        people: list[Landmarks] = []
        if self._models is not None:
            for proposal in self._models.propose(image):
                if len(people) >= self.config.max_people:
                    break
                if self.explained(proposal, people):
                    continue
                person = self.confirm(image, proposal, people)
                if person is not None:
                    people.append(person)
        return self.masking(image, people)

    def same(self, a: Landmarks, b: Landmarks) -> bool:
        """Whether ``a`` and ``b`` are one person (``same_person`` with this config)."""
        config = self.config
        return same_person(a, b, config.visibility_threshold, config.same_person_head, config.same_person_box)

    def explained(self, proposal: Proposal, people: list[Landmarks]) -> bool:
        """Whether someone in ``people`` accounts for ``proposal``: the same head, or (a head
        unseen on either side) the proposal's box mostly inside theirs."""
        config = self.config
        for person in people:
            head = head_box(person, config.visibility_threshold)
            if proposal.head is not None and head is not None:
                if heads_coincide(proposal.head, head, config.same_person_head):
                    return True
            else:
                box = grow(landmark_box(person, config.visibility_threshold), config.mask_margin)
                if overlap_fraction(proposal.box, box) >= config.same_person_box:
                    return True
        return False

    def matches(self, found: Landmarks, proposal: Proposal) -> bool:
        """Whether the person ``found`` on a proposal's crop is the one proposed: their head
        at the proposed face and of its size (within a factor ``proposal_head_ratio``), or (no
        face proposed or no head found) their landmarks mostly inside the proposal's box and
        filling at least ``proposal_min_size`` of it (a pose collapsed to a point is nobody)."""
        config = self.config
        head = head_box(found, config.visibility_threshold)
        if proposal.head is not None and head is not None:
            ratio = (head[2] - head[0]) / (proposal.head[2] - proposal.head[0])
            return (1 / config.proposal_head_ratio <= ratio <= config.proposal_head_ratio
                    and heads_coincide(head, proposal.head, config.proposal_head_distance))
        box = landmark_box(found, config.visibility_threshold)
        size = (box[2:] - box[:2]).max() / max(float((proposal.box[2:] - proposal.box[:2]).max()), 1.0)
        return (size >= config.proposal_min_size
                and overlap_fraction(box, grow(proposal.box, config.person_margin)) >= config.proposal_min_overlap)

    def confirm(self, image: np.ndarray, proposal: Proposal, people: list[Landmarks]) -> Landmarks | None:
        """The pose model's person on a square crop around ``proposal`` (the heads of
        ``people`` painted over, the proposed face kept), then, when that finds nobody, on
        crops around the proposed (or guessed) head and shoulders; ``None`` when none finds
        the person proposed, or when they find someone already in ``people``."""
        config = self.config
        box = clip_box(proposal.box, *image.shape[:2])
        windows = [box_window(box, config.person_margin)] if np.all(box[2:] - box[:2] >= 2.0) else []
        windows += [head_window(proposal.head_guess(), heads) for heads in config.head_windows]
        work = self.paint_heads(image, people, proposal.head)
        for centre, side in windows:
            found = self._models.pose_on(square_crop(work, centre, side, config.person_min_side))
            if found is None or found.visible(config.visibility_threshold) < config.min_visible_landmarks:
                continue
            if self.matches(found, proposal) and not any(self.same(found, person) for person in people):
                return found
        return None

    def paint_heads(self, image: np.ndarray, people: list[Landmarks], keep: np.ndarray | None) -> np.ndarray:
        """``image`` with the heads of ``people`` painted over in its mean colour, except the
        ``keep`` box; ``image`` itself when there is nothing to paint."""
        heads = [head_box(person, self.config.visibility_threshold) for person in people]
        heads = [h for h in heads if h is not None]
        if not heads:
            return image
        work, fill = image.copy(), mean_color(image)
        for head in heads:
            paint(work, grow(head, self.config.head_mask_margin), fill, keep=keep)
        return work

    def masking(self, image: np.ndarray, people: list[Landmarks]) -> list[Landmarks]:
        """``people`` and whoever holistic finds on the whole image with everyone found so far
        painted over (every pose landmark's box, seen or guessed, so that no part of a person
        is found again as someone else), one person per call, until nobody new is found."""
        config = self.config
        people = list(people)
        work, fill = image.copy(), mean_color(image)
        boxes = [landmark_box(person, -1.0) for person in people]
        for box in boxes:
            paint(work, grow(box, config.mask_margin), fill)
        while len(people) < config.max_people:
            found = self._holistic_on(Crop(np.ascontiguousarray(work), np.zeros(2), 1.0))
            if found is None or found.visible(config.visibility_threshold) < config.min_visible_landmarks:
                break
            box = landmark_box(found, -1.0)
            if any(overlap_fraction(box, earlier) > 1 - config.min_new_area for earlier in boxes):
                break  # the same person again, through the paint
            if any(self.same(found, person) for person in people):
                break
            people.append(found)
            boxes.append(box)
            paint(work, grow(box, config.mask_margin), fill)
        return people
