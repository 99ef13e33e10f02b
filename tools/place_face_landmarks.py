"""Place the face landmarks of the open model by detecting them on renders of its face.

    pip install -e .[detect]       # mediapipe (its face mesh model ships in the wheel)
    python -m tools.build_open_model --export-head-mesh head.npz   # stops at the landmarks
    python -m tools.place_face_landmarks --mesh head.npz

The neutral mean mesh is rendered from the front, MediaPipe's face mesh finds its 478
landmarks, those are mapped to the 68 dlib-style points (``detect.mediapipe_map``), and each
point is tied to the triangle under its pixel with barycentric coordinates: the 51 static
landmarks (points 17-67) from the frontal render, and the 17 contour points (0-16) from renders
with the head turned -39..39 degrees about the vertical, the look-up table smplx's
``use_face_contour`` reads.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from bodyfit.detect.mediapipe_map import FACE70_FROM_FACE_MESH, gather
from bodyfit.fileio.images import write_png
from bodyfit.rendering.draw import draw_points
from bodyfit.rendering.raster import MeshLayer, look_at_camera, rasterize

REPO = Path(__file__).resolve().parents[1]
IMAGE_SIZE = 640
FOCAL = 2400.0          # px; frames a head at DISTANCE metres
DISTANCE = 1.0
MAX_TURN_DEG = 39       # smplx's contour table covers -39..39 degrees


def head_centre(vertices: np.ndarray) -> np.ndarray:
    """Centre of the part of the mesh within 25 cm of its top (Y-up model)."""
    top = vertices[:, 1].max()
    head = vertices[vertices[:, 1] > top - 0.25]
    return (head.min(axis=0) + head.max(axis=0)) / 2


def render_face(vertices, faces, yaw_deg: float):
    """Render with the model turned by ``yaw_deg`` about its vertical axis through the head
    (positive turns the face to the model's left). Returns (image, face_ids, intrinsics,
    camera-frame vertices)."""
    centre = head_centre(vertices)
    angle = np.deg2rad(yaw_deg)
    turn = np.array([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0], [-np.sin(angle), 0, np.cos(angle)]])
    turned = (vertices - centre) @ turn.T + centre
    rotation, translation = look_at_camera(centre + [0, 0, DISTANCE], centre)
    camera_vertices = turned @ rotation.T + translation
    intrinsics = np.array([[FOCAL, 0, IMAGE_SIZE / 2], [0, FOCAL, IMAGE_SIZE / 2], [0, 0, 1]])
    result = rasterize([MeshLayer(camera_vertices, faces, (205, 170, 150))], intrinsics,
                       (IMAGE_SIZE, IMAGE_SIZE), background=np.full((IMAGE_SIZE, IMAGE_SIZE, 3), 60, np.uint8))
    return result.image, result.face_ids, intrinsics, camera_vertices


def detect_face70(image: np.ndarray) -> np.ndarray | None:
    """(70, 2) pixel positions of the dlib-style points, or None when no face is found."""
    import mediapipe as mp

    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1,
                                         refine_landmarks=True, min_detection_confidence=0.3) as mesh:
        found = mesh.process(image)
    if not found.multi_face_landmarks:
        return None
    points = np.array([[p.x, p.y] for p in found.multi_face_landmarks[0].landmark])
    return gather(points * [image.shape[1], image.shape[0]], FACE70_FROM_FACE_MESH)


def barycentric(point: np.ndarray, triangle: np.ndarray) -> np.ndarray:
    """(3,) barycentric coordinates of 2D ``point`` in 2D ``triangle`` (3, 2), clipped to it."""
    a, b, c = triangle
    matrix = np.column_stack([b - a, c - a])
    u, v = np.linalg.solve(matrix, point - a)
    weights = np.clip(np.array([1 - u - v, u, v]), 0, None)
    return weights / weights.sum()


def attach(points, face_ids, intrinsics, camera_vertices, faces):
    """Triangle id and barycentric coordinates under each 2D point (P, 2)."""
    covered = np.argwhere(face_ids >= 0)
    ids, bary = [], []
    uv = camera_vertices[:, :2] / camera_vertices[:, 2:] * intrinsics[0, 0] + intrinsics[:2, 2]
    for point in points:
        row, col = int(round(point[1])), int(round(point[0]))
        if not (0 <= row < face_ids.shape[0] and 0 <= col < face_ids.shape[1]) or face_ids[row, col] < 0:
            row, col = covered[np.argmin(((covered - [row, col]) ** 2).sum(1))]
        face = int(face_ids[row, col])
        ids.append(face)
        bary.append(barycentric(np.asarray(point, float), uv[faces[face]]).tolist())
    return ids, bary


def contour_table(vertices, faces):
    """smplx's dynamic contour table: 79 rows of 17 (face, barycentric) for head turns.
    Row i < 40 is a turn of -i degrees, row 39 + k a turn of +k degrees (smplx's layout)."""
    rows = {}
    for yaw in range(-MAX_TURN_DEG, MAX_TURN_DEG + 1):
        image, ids, intrinsics, cam = render_face(vertices, faces, yaw)
        points = detect_face70(image)
        if points is None:
            raise RuntimeError(f"no face found on the render turned {yaw} degrees")
        index = -yaw if yaw <= 0 else MAX_TURN_DEG + yaw
        rows[index] = attach(points[:17], ids, intrinsics, cam, faces)
    return [rows[i][0] for i in range(2 * MAX_TURN_DEG + 1)], [rows[i][1] for i in range(2 * MAX_TURN_DEG + 1)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mesh", type=Path, required=True, help="npz with vertices and faces")
    parser.add_argument("--output", type=Path, default=REPO / "tools" / "data" / "face_landmarks_anny.json")
    parser.add_argument("--preview", type=Path, default=REPO / "docs" / "open_model_face_landmarks.png")
    args = parser.parse_args(argv)
    data = np.load(args.mesh)
    vertices, faces = data["vertices"], data["faces"]
    image, ids, intrinsics, cam = render_face(vertices, faces, 0.0)
    points = detect_face70(image)
    if points is None:
        raise RuntimeError("MediaPipe found no face on the frontal render")
    static_ids, static_bary = attach(points[17:68], ids, intrinsics, cam, faces)
    dynamic_ids, dynamic_bary = contour_table(vertices, faces)
    result = {"source": "MediaPipe face mesh on software renders of the anny neutral mean mesh",
              "static_faces": static_ids, "static_barycentric": static_bary,
              "dynamic_faces": dynamic_ids, "dynamic_barycentric": dynamic_bary}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result) + "\n")
    preview = draw_points(image, points[:68], [(255, 60, 60) if k >= 17 else (60, 255, 60) for k in range(68)])
    args.preview.parent.mkdir(parents=True, exist_ok=True)
    write_png(args.preview, preview)
    print(f"wrote {args.output} and {args.preview}")


if __name__ == "__main__":
    main()
