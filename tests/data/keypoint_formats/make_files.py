"""Writes the keypoint files of tests/test_keypoint_formats.py from the shipped examples'
OpenPose files, each in its tool's own layout as documented by the tool (the joint orders are
written out here again from the formats' documentation, not taken from ``fileio.formats``).

    python -m tests.data.keypoint_formats.make_files

Points a format has and BODY_25 lacks (Halpe's head, BODY_25B's upper neck and head top,
MediaPipe's inner/outer eye corners, mouth and finger points) are placed at fixed offsets;
the tests check only what maps onto bodyfit's layout.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
STEMS = ("single_front", "single_side", "two_people")
WIDTH, HEIGHT = 800, 600

BODY25 = ("Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "MidHip", "RHip",
          "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar", "LBigToe", "LSmallToe",
          "LHeel", "RBigToe", "RSmallToe", "RHeel")
# COCO's 17 keypoints (cocodataset.org keypoint format), as BODY_25 names.
COCO17 = ("Nose", "LEye", "REye", "LEar", "REar", "LShoulder", "RShoulder", "LElbow", "RElbow", "LWrist", "RWrist",
          "LHip", "RHip", "LKnee", "RKnee", "LAnkle", "RAnkle")
WHOLEBODY_FEET = ("LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel")  # COCO-WholeBody 17-22
HALPE_EXTRA = ("head", "Neck", "MidHip", "LBigToe", "RBigToe", "LSmallToe", "RSmallToe", "LHeel", "RHeel")  # 17-25
BODY25B = COCO17 + ("UpperNeck", "HeadTop", "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel")
MEDIAPIPE_POSE = {0: "Nose", 2: "LEye", 5: "REye", 7: "LEar", 8: "REar", 11: "LShoulder", 12: "RShoulder",
                  13: "LElbow", 14: "RElbow", 15: "LWrist", 16: "RWrist", 23: "LHip", 24: "RHip", 25: "LKnee",
                  26: "RKnee", 27: "LAnkle", 28: "RAnkle", 29: "LHeel", 30: "RHeel", 31: "LBigToe", 32: "RBigToe"}


def people(stem: str) -> list[dict[str, np.ndarray]]:
    data = json.loads((REPO / "examples" / "keypoints" / f"{stem}_keypoints.json").read_text())
    return [{"body": np.array(p["pose_keypoints_2d"]).reshape(25, 3),
             "left": np.array(p["hand_left_keypoints_2d"]).reshape(21, 3),
             "right": np.array(p["hand_right_keypoints_2d"]).reshape(21, 3),
             "face": np.array(p["face_keypoints_2d"]).reshape(70, 3)} for p in data["people"]]


def extra(body: np.ndarray, name: str) -> np.ndarray:
    """A point BODY_25 lacks, at a fixed offset; BODY_25 points by name."""
    nose, neck = body[0], body[1]
    offsets = {"head": nose[:2] + (0.0, -40.0), "HeadTop": nose[:2] + (0.0, -45.0),
               "UpperNeck": neck[:2] + 0.4 * (nose[:2] - neck[:2])}
    if name in offsets:
        return np.array([*offsets[name], min(nose[2], neck[2])])
    return body[BODY25.index(name)]


def body_points(person: dict, names: tuple[str, ...]) -> np.ndarray:
    return np.stack([extra(person["body"], name) for name in names])


def wholebody(person: dict) -> np.ndarray:
    """(133, 3): COCO-17, feet, face 68, left hand, right hand."""
    return np.concatenate([body_points(person, COCO17 + WHOLEBODY_FEET), person["face"][:68], person["left"],
                           person["right"]])


def flat(points: np.ndarray) -> list[float]:
    return [round(float(v), 3) for v in points.reshape(-1)]


def mmpose_instance(points: np.ndarray) -> dict:
    xy, score = points[:, :2], points[:, 2]
    seen = xy[score > 0]
    box = [*seen.min(0), *seen.max(0)]
    return {"keypoints": [[round(float(x), 3), round(float(y), 3)] for x, y in xy],
            "keypoint_scores": [round(float(s), 4) for s in score],
            "bbox": [[round(float(v), 2) for v in box]], "bbox_score": 0.98}


def write(path: Path, value: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=1) + "\n")


def write_mmpose() -> None:
    for stem in STEMS:  # MMPoseInferencer(pred_out_dir=...): <image stem>.json, a list of instances
        write(HERE / "mmpose_wholebody" / f"{stem}.json", [mmpose_instance(wholebody(p)) for p in people(stem)])
    instances = [mmpose_instance(body_points(p, COCO17)) for p in people("two_people")]  # demo --save-predictions
    write(HERE / "mmpose_coco17" / "two_people.json",
          {"meta_info": {"dataset_name": "coco", "num_keypoints": 17}, "instance_info": instances})


def write_alphapose() -> None:
    records = []
    for stem in ("two_people", "single_side"):
        for index, person in enumerate(people(stem)):
            points = body_points(person, COCO17 + HALPE_EXTRA)
            seen = points[points[:, 2] > 0, :2]
            records.append({"image_id": f"{stem}.png", "category_id": 1, "keypoints": flat(points), "score": 2.7,
                            "box": [round(float(v), 2) for v in [*seen.min(0), *(seen.max(0) - seen.min(0))]],
                            "idx": [float(index)]})
    write(HERE / "alphapose-results.json", records)
    records = []
    for index, person in enumerate(people("two_people")):
        points = np.concatenate([body_points(person, COCO17 + HALPE_EXTRA), person["face"][:68], person["left"],
                                 person["right"]])
        records.append({"image_id": "two_people.png", "category_id": 1, "keypoints": flat(points), "score": 2.9,
                        "box": [0, 0, 10, 10], "idx": [float(index)]})
    write(HERE / "halpe136" / "alphapose-results.json", records)


def flags(points: np.ndarray) -> np.ndarray:
    """x, y, v: v = 2 above confidence 0.5, 1 above 0, else 0 at (0, 0)."""
    v = np.where(points[:, 2] > 0.5, 2, np.where(points[:, 2] > 0, 1, 0))
    xy = np.where(v[:, None] > 0, points[:, :2], 0.0)
    return np.column_stack([xy.round(2), v])


def write_coco() -> None:
    images = [{"id": 1000 + k, "file_name": f"{stem}.png", "width": WIDTH, "height": HEIGHT}
              for k, stem in enumerate(STEMS)]
    annotations, wholebody_annotations, results = [], [], []
    for image in images:
        for person in people(Path(image["file_name"]).stem):
            body = flags(body_points(person, COCO17))
            base = {"id": len(annotations) + 1, "image_id": image["id"], "category_id": 1, "iscrowd": 0,
                    "num_keypoints": int((body[:, 2] > 0).sum()), "bbox": [0, 0, 1, 1], "area": 1.0}
            annotations.append({**base, "keypoints": [int(v) if k % 3 == 2 else float(v)
                                                      for k, v in enumerate(body.reshape(-1))]})
            wholebody_annotations.append({
                **annotations[-1], "foot_kpts": flat(flags(body_points(person, WHOLEBODY_FEET))),
                "face_kpts": flat(flags(person["face"][:68])), "lefthand_kpts": flat(flags(person["left"])),
                "righthand_kpts": flat(flags(person["right"])), "foot_valid": True, "face_valid": True,
                "lefthand_valid": True, "righthand_valid": False})
            results.append({"image_id": image["id"], "category_id": 1,
                            "keypoints": flat(body_points(person, COCO17)), "score": 0.93})
    annotations.append({"id": 99, "image_id": 1000, "category_id": 1, "iscrowd": 1, "num_keypoints": 0,
                        "keypoints": [0] * 51, "bbox": [0, 0, 5, 5], "area": 25.0})  # a crowd region
    categories = [{"id": 1, "name": "person", "supercategory": "person"}]
    write(HERE / "coco" / "person_keypoints.json", {"images": images, "annotations": annotations,
                                                    "categories": categories})
    write(HERE / "coco" / "wholebody.json", {"images": images, "annotations": wholebody_annotations,
                                             "categories": categories})
    write(HERE / "coco" / "results.json", results)


def write_body25b() -> None:
    for stem in ("two_people", "single_front"):
        records = [{"person_id": [-1], "pose_keypoints_2d": flat(body_points(p, BODY25B)),
                    "face_keypoints_2d": flat(p["face"]), "hand_left_keypoints_2d": flat(p["left"]),
                    "hand_right_keypoints_2d": flat(p["right"]), "pose_keypoints_3d": [], "face_keypoints_3d": [],
                    "hand_left_keypoints_3d": [], "hand_right_keypoints_3d": []} for p in people(stem)]
        write(HERE / "openpose_body25b" / f"{stem}_keypoints.json", {"version": 1.3, "people": records})


def landmark_list(points: np.ndarray, visibility: np.ndarray | None) -> dict:
    """A NormalizedLandmarkList as json_format.MessageToDict writes it (zero fields left out)."""
    rows = []
    for k, (x, y) in enumerate(points):
        row = {"x": round(float(x) / WIDTH, 6), "y": round(float(y) / HEIGHT, 6), "z": -0.01 * (k % 5)}
        if visibility is not None and visibility[k] > 0:
            row["visibility"] = round(float(visibility[k]), 4)
        rows.append({key: value for key, value in row.items() if value != 0})
    return {"landmark": rows}


def pose33(body: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    points, visibility = np.zeros((33, 2)), np.zeros(33)
    for index in range(33):
        name = MEDIAPIPE_POSE.get(index)
        source = body[BODY25.index(name)] if name else body[0] + (3.0 * index, 2.0, 0.0)
        points[index], visibility[index] = source[:2], source[2]
    return points, visibility


def face_mesh(face70: np.ndarray, table) -> np.ndarray:
    """(478, 2) whose face-70 mapping is ``face70`` (70, 2): single entries set, pairs solved in turn."""
    mesh = np.tile(face70[30, :2], (478, 1)) + np.arange(478)[:, None] * 0.01
    done: set[int] = set()
    for row, entry in enumerate(table):
        members = entry if isinstance(entry, tuple) else (entry,)
        free = [m for m in members if m not in done]
        fixed = sum(mesh[m] for m in members if m in done)
        for m in free:
            mesh[m] = (len(members) * face70[row, :2] - fixed) / len(free)
            done.add(m)
    return mesh


def write_mediapipe(table) -> None:
    # a lone pose: NormalizedLandmarkList of results.pose_landmarks
    (person,) = people("single_front")
    write(HERE / "mediapipe" / "single_front.json", landmark_list(*pose33(person["body"])))
    records = []  # Holistic's four lists per person
    for person in people("two_people"):
        records.append({"pose_landmarks": landmark_list(*pose33(person["body"])),
                        "left_hand_landmarks": landmark_list(person["left"][:, :2], None),
                        "right_hand_landmarks": landmark_list(person["right"][:, :2], None),
                        "face_landmarks": landmark_list(face_mesh(person["face"], table), None)})
    write(HERE / "mediapipe" / "two_people.json", records)


def main() -> None:
    from bodyfit.detect.mediapipe_map import FACE70_FROM_FACE_MESH  # the face-mesh table checked against dlib's layout

    write_mmpose()
    write_alphapose()
    write_coco()
    write_body25b()
    write_mediapipe(FACE70_FROM_FACE_MESH)


if __name__ == "__main__":
    main()
