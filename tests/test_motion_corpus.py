"""The open motion corpus: BVH reading and forward kinematics, BVH -> SMPL-X conversion,
resampling, mirroring, and the committed index and split."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from bodyfit.bodymodels.joints import SMPL_BODY_JOINT_NAMES, SMPLX_PARENTS
from bodyfit.motion.augment import FLEXION_LIMITS, KINDS, LOWER_COLUMNS, UPPER_COLUMNS, add_flexion, recombine, sample_flexion
from bodyfit.motion.corpus import is_widened, load_clip, load_corpus, mirror_body_pose, mirror_trans, read_index
from bodyfit.motion.resample import resample_axis_angle, resample_times
from tools import retarget_error as errors
from tools.bvh import BvhError, forward_kinematics, local_transforms, parse_bvh
from tools.bvh_retarget import rotation_between
from tools.bvh_skeletons import SMPLX_BONE_CHILD, JointSource, SkeletonMap
from tools.bvh_to_smplx import SmplxReference, convert_bvh
from bodyfit.vposer.data import _MIRROR_PAIRS, read_clip

ROOT = Path(__file__).resolve().parents[1] / "data" / "poses"

TINY_BVH = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Chest
  {
    OFFSET 0 10 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0 5 0
    }
  }
  JOINT LeftLeg
  {
    OFFSET 2 0 0
    CHANNELS 3 Zrotation Yrotation Xrotation
    End Site
    {
      OFFSET 0 -8 0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.1
1 2 3 0 0 0 0 0 0 0 0 0
0 0 0 90 0 0 0 0 0 0 0 90
"""


@pytest.fixture(scope="module")
def reference() -> SmplxReference:
    return SmplxReference.load()


def test_bvh_reader_hierarchy_and_forward_kinematics():
    bvh = parse_bvh(TINY_BVH)
    assert bvh.names == ("Hips", "Chest", "Chest_End", "LeftLeg", "LeftLeg_End")
    assert list(bvh.parents) == [-1, 0, 1, 0, 3]
    assert bvh.joints[3].channels == ("Zrotation", "Yrotation", "Xrotation")
    assert bvh.frame_time == pytest.approx(0.1) and bvh.motion.shape == (2, 12)
    positions, _ = forward_kinematics(bvh)
    # Frame 0: translation only. Frame 1: root turned 90 deg about Z, the leg 90 deg about X.
    expected = [[[1, 2, 3], [1, 12, 3], [1, 17, 3], [3, 2, 3], [3, -6, 3]],
                [[0, 0, 0], [-10, 0, 0], [-15, 0, 0], [0, 2, 0], [0, 2, -8]]]
    np.testing.assert_allclose(positions, expected, atol=1e-9)


def test_bvh_euler_order_matches_scipy_intrinsic_rotations():
    bvh = parse_bvh(TINY_BVH.replace("0 0 0 90 0 0 0 0 0 0 0 90", "0 0 0 30 -50 70 0 0 0 10 20 40"))
    rotations, _ = local_transforms(bvh)
    np.testing.assert_allclose(rotations[1, 0], Rotation.from_euler("ZXY", [30, -50, 70], degrees=True).as_matrix(),
                               atol=1e-12)
    np.testing.assert_allclose(rotations[1, 3], Rotation.from_euler("ZYX", [10, 20, 40], degrees=True).as_matrix(),
                               atol=1e-12)


def test_bvh_reader_rejects_a_short_motion_table():
    with pytest.raises(BvhError, match="motion table"):
        parse_bvh(TINY_BVH.replace("Frames: 2", "Frames: 3"))


def _smplx_skeleton_map() -> SkeletonMap:
    """A BVH skeleton with SMPL-X's own joints and names."""
    joints = {name: JointSource(name, (name, SMPLX_BONE_CHILD[name]) if name in SMPLX_BONE_CHILD else None)
              for name in SMPL_BODY_JOINT_NAMES}
    return SkeletonMap("smplx-test", joints, {name: name for name in errors.POINTS})


def _synthetic_bvh(rest: np.ndarray, poses: np.ndarray, trans: np.ndarray) -> str:
    """BVH text (centimetres, arms hanging down at rest) whose motion is the SMPL-X ``poses``
    (F, 66) with ``trans`` (F, 3)."""
    parents = SMPLX_PARENTS[:22]
    corrections = np.tile(np.eye(3), (22, 1, 1))  # BVH rest bone = C @ SMPL-X rest bone
    for side in ("left", "right"):
        shoulder, elbow, wrist = (SMPL_BODY_JOINT_NAMES.index(f"{side}_{j}") for j in ("shoulder", "elbow", "wrist"))
        corrections[shoulder] = rotation_between(rest[elbow] - rest[shoulder], np.array([0.0, -1.0, 0.0]))
        corrections[[elbow, wrist]] = rotation_between(rest[wrist] - rest[elbow], np.array([0.0, -1.0, 0.0]))
    local = Rotation.from_rotvec(poses.reshape(-1, 3)).as_matrix().reshape(len(poses), 22, 3, 3)
    world = local.copy()
    for j in range(1, 22):
        world[:, j] = world[:, parents[j]] @ local[:, j]
    bvh_world = world @ np.swapaxes(corrections, 1, 2)
    lines, columns = [], {}
    for j, name in enumerate(SMPL_BODY_JOINT_NAMES):
        offset = 100 * (corrections[parents[j]] @ (rest[j] - rest[parents[j]])) if j else np.zeros(3)
        bvh_local = bvh_world[:, j] if j == 0 else np.swapaxes(bvh_world[:, parents[j]], 1, 2) @ bvh_world[:, j]
        columns[j] = Rotation.from_matrix(bvh_local).as_euler("ZYX", degrees=True)
        channels = "Zrotation Yrotation Xrotation"
        if j == 0:
            channels = "Xposition Yposition Zposition " + channels
            columns[j] = np.concatenate([100 * (trans + rest[0]), columns[j]], axis=1)
        lines.append((name, offset, channels))
    return _bvh_text(lines, parents, columns, 1 / 30)


def _bvh_text(lines, parents, columns, frame_time) -> str:
    """BVH text of joints (name, offset, channels) in SMPL-X order; ``columns[j]`` (F, C_j)."""
    order = []

    def block(j: int, depth: int) -> list[str]:
        order.append(j)
        name, offset, channels = lines[j]
        pad = "  " * depth
        text = [f"{pad}{'ROOT' if j == 0 else 'JOINT'} {name}", pad + "{",
                f"{pad}  OFFSET {' '.join(f'{v:.9f}' for v in offset)}",
                f"{pad}  CHANNELS {len(channels.split())} {channels}"]
        for child in range(1, len(lines)):
            if parents[child] == j:
                text += block(child, depth + 1)
        return text + [pad + "}"]

    hierarchy = block(0, 0)
    table = np.concatenate([columns[j] for j in order], axis=1)  # file order = depth-first order
    motion = [" ".join(f"{v:.9f}" for v in row) for row in table]
    return "\n".join(["HIERARCHY"] + hierarchy + ["MOTION", f"Frames: {len(table)}", f"Frame Time: {frame_time}"]
                     + motion) + "\n"


def _known_motion(frames: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    poses = rng.normal(scale=0.25, size=(frames, 66))
    return poses, rng.normal(scale=0.2, size=(frames, 3))


def test_rotation_retargeting_recovers_known_smplx_poses(reference):
    poses, trans = _known_motion(4)
    bvh = parse_bvh(_synthetic_bvh(reference.rest, poses, trans))
    result = convert_bvh(bvh, _smplx_skeleton_map(), "rotation", reference, fps=30.0)
    recovered = Rotation.from_rotvec(result.poses.reshape(-1, 3))
    truth = Rotation.from_rotvec(poses.reshape(-1, 3))
    assert np.degrees((recovered.inv() * truth).magnitude()).max() < 1e-3
    np.testing.assert_allclose(result.trans, trans, atol=1e-6)
    assert result.normalised_mm < 1e-3 and result.raw_mm < 1e-3


def test_position_fit_keeps_an_exact_start_exact(reference):
    poses, trans = _known_motion(3, seed=5)
    bvh = parse_bvh(_synthetic_bvh(reference.rest, poses, trans))
    result = convert_bvh(bvh, _smplx_skeleton_map(), "fit", reference, fps=30.0)
    assert result.normalised_mm < 0.5 and result.raw_mm < 0.5


def test_resampling_120_to_30_takes_every_fourth_frame():
    poses = np.random.default_rng(0).normal(scale=0.5, size=(9, 66))
    times = resample_times(9, 120.0, 30.0)
    np.testing.assert_allclose(times, [0, 4, 8])
    np.testing.assert_allclose(resample_axis_angle(poses, times), poses[[0, 4, 8]], atol=1e-9)


def test_mirror_round_trip():
    poses = np.random.default_rng(1).normal(scale=0.4, size=(5, 66))
    np.testing.assert_allclose(mirror_body_pose(mirror_body_pose(poses)), poses, atol=1e-12)


def test_mirrored_pose_poses_the_mirrored_skeleton(reference):
    poses, trans = _known_motion(6, seed=7)
    joints = reference.joints(poses, trans)[:, :22]
    mirrored = reference.joints(mirror_body_pose(poses), mirror_trans(trans))[:, :22]
    swap = np.arange(22)
    for left, right in _MIRROR_PAIRS:
        swap[[left, right]] = [right, left]
    np.testing.assert_allclose(mirrored[:, swap] * np.array([-1.0, 1.0, 1.0]), joints, atol=1e-4)


def test_index_rows_load_and_split_by_clip():
    rows = read_index(ROOT)
    names = [row["name"] for row in rows]
    assert len(names) == len(set(names))
    train = {c.name for c in load_corpus("train", ROOT)}
    heldout = {c.name for c in load_corpus("heldout", ROOT)}
    real = {row["name"] for row in rows if not is_widened(row)}
    assert train and heldout and not train & heldout and train | heldout == real
    assert any(row["source"] == "cmu" for row in rows if row["split"] == "heldout")
    for row in rows:
        clip = read_clip(ROOT / row["file"])
        assert clip.frame_rate == row["fps"] == 30.0
        assert load_clip(row, ROOT).poses.shape == (row["frames"], 66)
    for activity in {row["activity"] for row in rows}:
        splits = [row["split"] for row in rows if row["activity"] == activity]
        assert len(splits) < 2 or "train" in splits, activity


def test_heldout_has_forward_bends_and_widened_heldout_comes_from_heldout_clips():
    rows = read_index(ROOT)
    real = [row for row in rows if not is_widened(row)]
    heldout = {row["name"] for row in real if row["split"] == "heldout"}
    train = {row["name"] for row in real if row["split"] == "train"}
    share = sum(r["frames"] for r in real if r["split"] == "heldout") / sum(r["frames"] for r in real)
    assert 0.2 <= share <= 0.3 and not heldout & train
    assert {c.name for c in load_corpus("heldout", ROOT)} == heldout  # widened rows only when asked
    for row in rows:
        if is_widened(row):
            assert set(row["source_clips"]) <= (heldout if row["split"] == "heldout" else train), row["name"]
            with np.load(ROOT / row["file"]) as data:
                assert str(data["split"]) == row["split"] and data["poses"].dtype == np.float32


def test_recombination_keeps_the_lower_body_of_one_and_the_upper_body_of_the_other():
    rng = np.random.default_rng(0)
    lower, upper = rng.normal(size=(5, 66)), rng.normal(size=(5, 66))
    mixed = recombine(lower, upper)
    assert sorted(np.r_[LOWER_COLUMNS, UPPER_COLUMNS].tolist()) == list(range(66))
    np.testing.assert_array_equal(mixed[:, LOWER_COLUMNS], lower[:, LOWER_COLUMNS])
    np.testing.assert_array_equal(mixed[:, UPPER_COLUMNS], upper[:, UPPER_COLUMNS])
    np.testing.assert_array_equal(mixed[:, :3], lower[:, :3])  # the root orientation goes with the legs
    with pytest.raises(ValueError, match="must be"):
        recombine(lower[:, :63], upper)


def test_generated_flexion_stays_within_the_limits_and_turns_about_x():
    rng = np.random.default_rng(1)
    for kind, ranges in KINDS.items():
        trunk, hip, knee = sample_flexion(kind, 200, rng)
        for values, part in ((trunk, "trunk"), (hip, "hip"), (knee, "knee")):
            low, high = getattr(ranges, part)
            limit = getattr(FLEXION_LIMITS, part)
            assert limit[0] <= low <= values.min() and values.max() <= high <= limit[1], (kind, part)
    base = Rotation.random(4, random_state=2).as_rotvec().reshape(4, 3) * 0.3
    poses = np.zeros((4, 66))
    poses[:, 9:12] = base  # spine1
    flexed = add_flexion(poses, np.full(4, 60.0), np.full(4, 90.0), np.full(4, 120.0))
    turn = Rotation.from_rotvec(flexed[:, 9:12]) * Rotation.from_rotvec(base).inv()
    np.testing.assert_allclose(turn.as_rotvec(), np.tile([np.radians(20.0), 0, 0], (4, 1)), atol=1e-9)
    np.testing.assert_allclose(flexed[:, 3:6], np.tile([-np.radians(90.0), 0, 0], (4, 1)), atol=1e-9)  # left hip
    np.testing.assert_allclose(flexed[:, 12:15], np.tile([np.radians(120.0), 0, 0], (4, 1)), atol=1e-9)  # left knee


def test_generated_flexion_bends_the_trunk_forward_on_the_body(open_model):
    from tools.corpus_stats import hip_flexion, knee_bend, posed_joints, trunk_flexion

    poses = add_flexion(np.zeros((1, 66)), np.array([60.0]), np.array([90.0]), np.array([90.0]))
    joints = posed_joints(open_model, poses)
    assert 25 < trunk_flexion(joints)[0] < 70  # forward; the pelvis -> spine1 part of the line stays upright
    # the measured hip angle is between thigh and trunk, so it holds the trunk flexion too
    assert np.all(np.abs(hip_flexion(joints) - 150) < 20) and np.all(np.abs(knee_bend(joints) - 90) < 15)
