"""A small reader for Biovision hierarchy (BVH) motion files and their forward kinematics.

A BVH file is a joint tree (each joint: a name, an offset from its parent, and the channels
that the motion rows set, in the file's order) followed by a motion table: one row of channel
values per frame. Rotation channels are Euler angles in degrees, applied in the order listed
(``Zrotation Yrotation Xrotation`` means R = Rz @ Ry @ Rx, each about the joint's parent-aligned
axes). Position channels are added to the joint's offset (the usual rule for the root).
End sites become joints without channels, named ``<parent>_End``.

Shapes: F frames, J joints (end sites included), C channels per frame.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

_AXES = {"X": 0, "Y": 1, "Z": 2}
_ROTATIONS = ("Xrotation", "Yrotation", "Zrotation")
_POSITIONS = ("Xposition", "Yposition", "Zposition")


class BvhError(ValueError):
    """A BVH text that cannot be read; the message says where and what was expected."""


@dataclass(frozen=True)
class BvhJoint:
    name: str
    parent: int  # index of the parent joint, -1 for the root
    offset: np.ndarray  # (3,) from the parent joint, in the file's units
    channels: tuple[str, ...]  # in file order; () for an end site
    first_channel: int  # column of the first channel in each motion row


@dataclass(frozen=True)
class Bvh:
    joints: tuple[BvhJoint, ...]
    frame_time: float  # seconds
    motion: np.ndarray  # (F, C) channel values, angles in degrees

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(joint.name for joint in self.joints)

    @property
    def parents(self) -> np.ndarray:
        """(J,) parent index of each joint, -1 for the root."""
        return np.array([joint.parent for joint in self.joints])

    @property
    def offsets(self) -> np.ndarray:
        """(J, 3) each joint's offset from its parent."""
        return np.stack([joint.offset for joint in self.joints])

    @property
    def num_frames(self) -> int:
        return int(self.motion.shape[0])

    @property
    def frame_rate(self) -> float:
        return 1.0 / self.frame_time

    def index(self, name: str) -> int:
        """The index of joint ``name``; KeyError lists the joints when it is missing."""
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"no joint {name!r} in this BVH; joints: {', '.join(self.names)}") from None


class _Tokens:
    """Whitespace-separated words of a BVH text with a cursor."""

    def __init__(self, text: str):
        self.words = text.split()
        self.position = 0

    def next(self) -> str:
        if self.position >= len(self.words):
            raise BvhError("unexpected end of the BVH text")
        word = self.words[self.position]
        self.position += 1
        return word

    def expect(self, *wanted: str) -> str:
        word = self.next()
        if word not in wanted:
            raise BvhError(f"expected {' or '.join(map(repr, wanted))} at word {self.position}, got {word!r}")
        return word

    def numbers(self, count: int) -> np.ndarray:
        words = [self.next() for _ in range(count)]
        try:
            return np.array([float(w) for w in words])
        except ValueError:
            raise BvhError(f"expected {count} numbers before word {self.position}, got {words}") from None


def _read_joint(tokens: _Tokens, name: str, parent: int, joints: list[BvhJoint], channel_count: int) -> int:
    """Reads one joint's block (after its name) and its children; returns the channel count so far."""
    tokens.expect("{")
    tokens.expect("OFFSET")
    offset = tokens.numbers(3)
    tokens.expect("CHANNELS")
    count = int(tokens.numbers(1)[0])
    channels = tuple(tokens.next() for _ in range(count))
    unknown = [c for c in channels if c not in _ROTATIONS + _POSITIONS]
    if unknown:
        raise BvhError(f"joint {name!r}: unknown channels {unknown}")
    index = len(joints)
    joints.append(BvhJoint(name, parent, offset, channels, channel_count))
    channel_count += count
    while (word := tokens.next()) != "}":
        if word == "JOINT":
            channel_count = _read_joint(tokens, tokens.next(), index, joints, channel_count)
        elif word == "End":
            tokens.expect("Site")
            tokens.expect("{")
            tokens.expect("OFFSET")
            joints.append(BvhJoint(f"{name}_End", index, tokens.numbers(3), (), channel_count))
            tokens.expect("}")
        else:
            raise BvhError(f"joint {name!r}: expected JOINT, End Site or '}}', got {word!r}")
    return channel_count


def _read_motion(tokens: _Tokens, channel_count: int) -> tuple[float, np.ndarray]:
    """The frame time and the (F, C) motion table."""
    tokens.expect("MOTION")
    tokens.expect("Frames:")
    frames = int(tokens.numbers(1)[0])
    tokens.expect("Frame")
    tokens.expect("Time:")
    frame_time = float(tokens.numbers(1)[0])
    values = tokens.words[tokens.position:]
    # Some exporters miscount the rows (Boxing_Toes.bvh declares 3,069 and holds 3,070): a
    # table of whole rows, at least as many as declared, is read in full.
    if len(values) % max(channel_count, 1) or len(values) < frames * channel_count:
        raise BvhError(f"motion table: expected {frames} frames x {channel_count} channels = "
                       f"{frames * channel_count} values, got {len(values)}")
    frames = len(values) // channel_count if channel_count else frames
    if not frame_time > 0:
        raise BvhError(f"frame time must be positive, got {frame_time}")
    return frame_time, np.array(values, dtype=np.float64).reshape(frames, channel_count)


def parse_bvh(text: str) -> Bvh:
    """A BVH file's hierarchy and motion from its text."""
    tokens = _Tokens(text)
    tokens.expect("HIERARCHY")
    tokens.expect("ROOT")
    joints: list[BvhJoint] = []
    channel_count = _read_joint(tokens, tokens.next(), -1, joints, 0)
    frame_time, motion = _read_motion(tokens, channel_count)
    return Bvh(tuple(joints), frame_time, motion)


def read_bvh(path: Path | str) -> Bvh:
    """The BVH file at ``path``; BvhError names the file when it cannot be read."""
    try:
        return parse_bvh(Path(path).read_text())
    except BvhError as error:
        raise BvhError(f"{path}: {error}") from None


def axis_rotation(axis: str, degrees: np.ndarray) -> np.ndarray:
    """(..., 3, 3) right-handed rotations by ``degrees`` (...) about axis 'X', 'Y' or 'Z'."""
    angle = np.radians(degrees)
    cos, sin = np.cos(angle), np.sin(angle)
    i = _AXES[axis]
    j, k = (i + 1) % 3, (i + 2) % 3
    matrix = np.zeros(angle.shape + (3, 3))
    matrix[..., i, i] = 1.0
    matrix[..., j, j] = cos
    matrix[..., k, k] = cos
    matrix[..., k, j] = sin
    matrix[..., j, k] = -sin
    return matrix


def local_transforms(bvh: Bvh, frames: slice | np.ndarray = slice(None)) -> tuple[np.ndarray, np.ndarray]:
    """Each joint's rotation (F, J, 3, 3) and translation (F, J, 3) relative to its parent."""
    motion = bvh.motion[frames]
    count = motion.shape[0]
    rotations = np.tile(np.eye(3), (count, len(bvh.joints), 1, 1))
    translations = np.tile(bvh.offsets, (count, 1, 1))
    for index, joint in enumerate(bvh.joints):
        for k, channel in enumerate(joint.channels):
            values = motion[:, joint.first_channel + k]
            if channel in _ROTATIONS:
                rotations[:, index] = rotations[:, index] @ axis_rotation(channel[0], values)
            else:
                translations[:, index, _AXES[channel[0]]] += values
    return rotations, translations


def chain_transforms(parents: np.ndarray, local_rotations: np.ndarray,
                     local_translations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World positions (F, J, 3) and rotations (F, J, 3, 3) from each joint's rotation
    (F, J, 3, 3) and translation (F, J, 3) relative to its parent; ``parents`` (J,) lists
    every parent before its children."""
    world_rotations = np.empty_like(local_rotations)
    world_positions = np.empty_like(local_translations)
    for index, parent in enumerate(parents):
        if parent < 0:
            world_rotations[:, index] = local_rotations[:, index]
            world_positions[:, index] = local_translations[:, index]
            continue
        world_rotations[:, index] = world_rotations[:, parent] @ local_rotations[:, index]
        world_positions[:, index] = (world_positions[:, parent]
                                     + np.einsum("fij,fj->fi", world_rotations[:, parent], local_translations[:, index]))
    return world_positions, world_rotations


def forward_kinematics(bvh: Bvh, frames: slice | np.ndarray = slice(None)) -> tuple[np.ndarray, np.ndarray]:
    """World positions (F, J, 3) and world rotations (F, J, 3, 3) of every joint."""
    return chain_transforms(bvh.parents, *local_transforms(bvh, frames))


def rest_positions(bvh: Bvh) -> np.ndarray:
    """(J, 3) joint positions with every channel at zero (the skeleton's rest pose)."""
    positions = np.zeros((len(bvh.joints), 3))
    for index, joint in enumerate(bvh.joints):
        positions[index] = joint.offset + (positions[joint.parent] if joint.parent >= 0 else 0.0)
    return positions
