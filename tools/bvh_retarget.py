"""Method (a): BVH joint rotations carried over to SMPL-X's 22 body joints by rest-pose
alignment.

Each SMPL-X joint s takes the world rotation D_s(t) of its BVH driver joint, turned by a
constant rest correction C_s: the rotation that takes SMPL-X's rest bone (s -> its child) onto
the BVH's rest bone for the same body segment, so that W_s = D_s C_s lays SMPL-X's bone along
the BVH's bone in every frame. Local rotations are then W_parent^T W_s; BVH joints between two
drivers fold into that product. The root translation puts SMPL-X's hip midpoint on the BVH's,
scaled to SMPL-X's size.

Shapes: F frames, J BVH joints, K compared joints (``retarget_error.POINTS``).
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from bodyfit.bodymodels.joints import NUM_BODY_JOINTS_WITH_PELVIS, SMPL_BODY_JOINT_NAMES, SMPLX_PARENTS
from tools.bvh_skeletons import SMPLX_BONE_CHILD, SkeletonMap
from tools.retarget_error import POINTS, with_midpoints

_INDEX = {name: index for index, name in enumerate(SMPL_BODY_JOINT_NAMES)}
SMPLX_POINT_INDICES_BODY = np.array([_INDEX[name] for name in POINTS])


def rotation_between(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(3, 3) the smallest rotation that turns direction ``source`` (3,) onto ``target`` (3,)."""
    a = source / np.linalg.norm(source)
    b = target / np.linalg.norm(target)
    axis = np.cross(a, b)
    sin, cos = np.linalg.norm(axis), float(np.dot(a, b))
    if sin < 1e-12:
        if cos > 0:
            return np.eye(3)
        perpendicular = np.cross(a, [1.0, 0.0, 0.0] if abs(a[0]) < 0.9 else [0.0, 1.0, 0.0])
        return Rotation.from_rotvec(np.pi * perpendicular / np.linalg.norm(perpendicular)).as_matrix()
    return Rotation.from_rotvec(axis / sin * np.arctan2(sin, cos)).as_matrix()


def rest_corrections(bvh_rest: np.ndarray, bvh_names: tuple[str, ...], smplx_rest: np.ndarray,
                     skeleton: SkeletonMap) -> np.ndarray:
    """(22, 3, 3) C_s per SMPL-X body joint from the BVH's rest positions (J, 3) and SMPL-X's
    rest joints (>= 22, 3). A joint without a bone keeps its parent's correction."""
    corrections = np.tile(np.eye(3), (NUM_BODY_JOINTS_WITH_PELVIS, 1, 1))
    for index, name in enumerate(SMPL_BODY_JOINT_NAMES):
        source = skeleton.joints[name]
        if source.bone is None or name not in SMPLX_BONE_CHILD:
            corrections[index] = corrections[SMPLX_PARENTS[index]] if index else np.eye(3)
            continue
        start, end = (bvh_names.index(b) for b in source.bone)
        smplx_bone = smplx_rest[_INDEX[SMPLX_BONE_CHILD[name]]] - smplx_rest[index]
        corrections[index] = rotation_between(smplx_bone, bvh_rest[end] - bvh_rest[start])
    return corrections


def chain_positions(world: np.ndarray, smplx_rest: np.ndarray) -> np.ndarray:
    """(..., 22, 3) SMPL-X body joints, pelvis at its rest place, posed by world rotations
    (..., 22, 3, 3) of each joint."""
    parents = SMPLX_PARENTS[:NUM_BODY_JOINTS_WITH_PELVIS]
    positions = np.zeros(world.shape[:-3] + (NUM_BODY_JOINTS_WITH_PELVIS, 3))
    positions[..., 0, :] = smplx_rest[0]
    for index in range(1, NUM_BODY_JOINTS_WITH_PELVIS):
        bone = smplx_rest[index] - smplx_rest[parents[index]]
        positions[..., index, :] = positions[..., parents[index], :] + world[..., parents[index], :, :] @ bone
    return positions


def trunk_direction(points: np.ndarray) -> np.ndarray:
    """(3,) unit vector from the hip midpoint to the shoulder midpoint of compared joints (K, 3)."""
    full = with_midpoints(points[None])[0]
    vector = full[-1] - full[-2]
    return vector / np.linalg.norm(vector)


def align_trunk(corrections: np.ndarray, bvh_rest_points: np.ndarray, smplx_rest: np.ndarray,
                iterations: int = 8) -> np.ndarray:
    """(22, 3, 3) ``corrections`` with spine1-3 turned together so that, with the BVH at rest,
    SMPL-X's trunk line (hip midpoint -> shoulder midpoint) lies along the BVH's (its rest
    compared joints (K, 3)). The spine joints have no one-to-one BVH bones; the trunk line
    also carries where each skeleton puts its hips relative to its spine."""
    spine = [_INDEX[name] for name in ("spine1", "spine2", "spine3")]
    result = corrections.copy()
    target = trunk_direction(bvh_rest_points)
    for _ in range(iterations):
        posed = chain_positions(result, smplx_rest)[SMPLX_POINT_INDICES_BODY]
        turn = rotation_between(trunk_direction(posed), target)
        result[spine] = turn @ result[spine]
    return result


def driver_rotations(world_rotations: np.ndarray, bvh_names: tuple[str, ...],
                     skeleton: SkeletonMap) -> np.ndarray:
    """(F, 22, 3, 3) D_s: each SMPL-X joint's driver's world rotation, blended toward a second
    BVH joint along the shortest arc where the map says so; from (F, J, 3, 3)."""
    frames = world_rotations.shape[0]
    drivers = np.empty((frames, NUM_BODY_JOINTS_WITH_PELVIS, 3, 3))
    for index, name in enumerate(SMPL_BODY_JOINT_NAMES):
        source = skeleton.joints[name]
        rotation = world_rotations[:, bvh_names.index(source.driver)]
        if source.blend is not None:
            other, share = source.blend
            relative = Rotation.from_matrix(np.swapaxes(rotation, 1, 2) @ world_rotations[:, bvh_names.index(other)])
            rotation = rotation @ Rotation.from_rotvec(relative.as_rotvec() * share).as_matrix()
        drivers[:, index] = rotation
    return drivers


def local_axis_angles(world: np.ndarray) -> np.ndarray:
    """(F, 66) SMPL-X pose (global orientation, then 21 local rotations) from the joints' world
    rotations (F, 22, 3, 3)."""
    parents = np.array(SMPLX_PARENTS[:NUM_BODY_JOINTS_WITH_PELVIS])
    local = world.copy()
    local[:, 1:] = np.swapaxes(world[:, parents[1:]], -1, -2) @ world[:, 1:]
    return Rotation.from_matrix(local.reshape(-1, 3, 3)).as_rotvec().reshape(len(world), NUM_BODY_JOINTS_WITH_PELVIS * 3)


def retarget_rotations(world_rotations: np.ndarray, bvh_rest: np.ndarray, bvh_names: tuple[str, ...],
                       smplx_rest: np.ndarray, skeleton: SkeletonMap) -> tuple[np.ndarray, np.ndarray]:
    """SMPL-X poses (F, 66) and the joints' world rotations (F, 22, 3, 3) from the BVH joints'
    world rotations (F, J, 3, 3)."""
    corrections = rest_corrections(bvh_rest, bvh_names, smplx_rest, skeleton)
    if skeleton.align_trunk:
        bvh_points = bvh_rest[[bvh_names.index(skeleton.positions[name]) for name in POINTS]]
        corrections = align_trunk(corrections, bvh_points, smplx_rest)
    world = driver_rotations(world_rotations, bvh_names, skeleton) @ corrections
    return local_axis_angles(world), world


def hip_midpoint(positions: np.ndarray, bvh_names: tuple[str, ...], skeleton: SkeletonMap) -> np.ndarray:
    """(F, 3) midpoint of the BVH's two hip joints from positions (F, J, 3)."""
    left, right = (bvh_names.index(skeleton.positions[f"{side}_hip"]) for side in ("left", "right"))
    return 0.5 * (positions[:, left] + positions[:, right])


def root_translation(bvh_hip_mid: np.ndarray, pelvis_rotation: np.ndarray, smplx_rest: np.ndarray,
                     scale: float) -> np.ndarray:
    """(F, 3) SMPL-X ``transl`` that puts the posed model's hip midpoint on the BVH's (F, 3)
    times ``scale``, given the pelvis world rotations (F, 3, 3) and SMPL-X's rest joints.

    A posed SMPL-X joint of the pelvis is R (x - J_pelvis) + J_pelvis + transl."""
    pelvis = smplx_rest[_INDEX["pelvis"]]
    rest_mid = 0.5 * (smplx_rest[_INDEX["left_hip"]] + smplx_rest[_INDEX["right_hip"]])
    return scale * bvh_hip_mid - pelvis - pelvis_rotation @ (rest_mid - pelvis)
