"""Convert the DeepMimic humanoid motion clips shipped in ``pybullet`` (zlib licence) into
AMASS-format ``.npz`` files for the 21 SMPL body joints.

    pip install pybullet==3.2.7
    python -m tools.convert_deepmimic --output data/poses/deepmimic

A DeepMimic frame is: duration, root position, root quaternion (w, x, y, z), then chest, neck,
right hip, right knee (one angle), right ankle, right shoulder, right elbow (one angle), left
hip, knee, ankle, shoulder, elbow; Y up, the character facing +x, every joint frame aligned
with the world at rest, arms hanging down. The conversion takes each joint's world rotation,
changes axes to SMPL's (Y up, facing +z), turns the arm chains by the fixed offset between
DeepMimic's arms-down rest and SMPL's T-pose, and reads off SMPL's local rotations. SMPL
joints DeepMimic lacks: the chest's rotation is shared equally by spine1-3, the neck's by neck
and head; collars, wrists and feet stay at rest.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from bodyfit.bodymodels.joints import SMPLX_JOINT, SMPLX_PARENTS
from bodyfit.fileio.atomic import atomic_path

# DeepMimic's Y-up, facing +x (left at -z) to SMPL's Y-up, facing +z (left at +x).
DEEPMIMIC_TO_SMPL = np.array([[0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
# Spherical (4 values) and revolute (1 value, about z) joints, in frame order, with parents.
_JOINTS = (("chest", 4, "root"), ("neck", 4, "chest"), ("right_hip", 4, "root"), ("right_knee", 1, "right_hip"),
           ("right_ankle", 4, "right_knee"), ("right_shoulder", 4, "chest"), ("right_elbow", 1, "right_shoulder"),
           ("left_hip", 4, "root"), ("left_knee", 1, "left_hip"), ("left_ankle", 4, "left_knee"),
           ("left_shoulder", 4, "chest"), ("left_elbow", 1, "left_shoulder"))
# Rest-pose offset of SMPL's arm chains: turns the T-pose arm (+-x) down to -y.
_ARM_OFFSET = {"left": Rotation.from_euler("z", -90, degrees=True), "right": Rotation.from_euler("z", 90, degrees=True)}
NUM_SMPL_JOINTS = 22  # pelvis + 21 body joints
SMPLH_POSE_WIDTH = 156


def _quaternion(values) -> Rotation:
    w, x, y, z = values
    return Rotation.from_quat([x, y, z, w])


def deepmimic_world_rotations(frame: list[float]) -> dict[str, Rotation]:
    """World rotation of each DeepMimic joint frame for one frame row."""
    world = {"root": _quaternion(frame[4:8])}
    cursor = 8
    for name, width, parent in _JOINTS:
        values = frame[cursor:cursor + width]
        cursor += width
        local = _quaternion(values) if width == 4 else Rotation.from_euler("z", values[0])
        world[name] = world[parent] * local
    return world


def smpl_world_rotations(deepmimic: dict[str, Rotation]) -> list[Rotation]:
    """World rotations of SMPL's 22 body joints (SMPL axes) from DeepMimic's."""
    axes = Rotation.from_matrix(DEEPMIMIC_TO_SMPL)
    g = {name: axes * rotation * axes.inv() for name, rotation in deepmimic.items()}
    chest = g["root"].inv() * g["chest"]
    neck = g["chest"].inv() * g["neck"]
    world = {
        "pelvis": g["root"],
        "spine1": g["root"] * Rotation.from_rotvec(chest.as_rotvec() / 3),
        "spine2": g["root"] * Rotation.from_rotvec(chest.as_rotvec() * 2 / 3),
        "spine3": g["chest"],
        "neck": g["chest"] * Rotation.from_rotvec(neck.as_rotvec() / 2),
        "head": g["neck"],
    }
    for side in ("left", "right"):
        world[f"{side}_collar"] = g["chest"]
        world[f"{side}_shoulder"] = g[f"{side}_shoulder"] * _ARM_OFFSET[side]
        world[f"{side}_elbow"] = g[f"{side}_elbow"] * _ARM_OFFSET[side]
        world[f"{side}_wrist"] = world[f"{side}_elbow"]
        for joint in ("hip", "knee", "ankle"):
            world[f"{side}_{joint}"] = g[f"{side}_{joint}"]
        world[f"{side}_foot"] = world[f"{side}_ankle"]
    names = sorted(world, key=lambda n: SMPLX_JOINT[n])
    return [world[name] for name in names]


def frame_to_pose(frame: list[float]) -> np.ndarray:
    """(66,) SMPL axis-angle: global orientation then the 21 body joints' local rotations."""
    world = smpl_world_rotations(deepmimic_world_rotations(frame))
    pose = [world[0].as_rotvec()]
    for joint in range(1, NUM_SMPL_JOINTS):
        pose.append((world[SMPLX_PARENTS[joint]].inv() * world[joint]).as_rotvec())
    return np.concatenate(pose)


def convert_clip(path: Path) -> dict[str, np.ndarray]:
    """An AMASS-style record of one clip: poses (N, 156, SMPL-H width, hands at rest), trans,
    betas, gender and mocap_framerate."""
    frames = json.loads(path.read_text())["Frames"]
    poses = np.zeros((len(frames), SMPLH_POSE_WIDTH), np.float32)
    trans = np.zeros((len(frames), 3), np.float32)
    for index, frame in enumerate(frames):
        poses[index, :66] = frame_to_pose(frame)
        trans[index] = DEEPMIMIC_TO_SMPL @ np.asarray(frame[1:4])
    return {"poses": poses, "trans": trans, "betas": np.zeros(16, np.float32), "gender": np.array("neutral"),
            "mocap_framerate": np.array(1.0 / float(frames[0][0]))}


def default_source() -> Path:
    import pybullet_data

    return Path(pybullet_data.getDataPath()) / "motions"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=None, help="pybullet_data's motions folder")
    parser.add_argument("--output", type=Path, default=Path("data/poses/deepmimic"))
    args = parser.parse_args(argv)
    source = args.source or default_source()
    clips = sorted(source.glob("humanoid3d_*.txt"))
    if not clips:
        raise SystemExit(f"no humanoid3d_*.txt clips in {source}")
    for clip in clips:
        record = convert_clip(clip)
        with atomic_path(args.output / f"{clip.stem}.npz") as tmp:
            np.savez_compressed(tmp, **record)
        print(f"{clip.stem}: {len(record['poses'])} frames at {float(record['mocap_framerate']):.0f} fps")


if __name__ == "__main__":
    main()
