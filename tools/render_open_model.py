"""Front and side renders of the open model (three genders, rest and posed) for docs/.

    python -m tools.render_open_model --output docs/open_model.png
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from bodyfit.bodymodels.layer import BodyModel, BodyParams
from bodyfit.fileio.keypoint_layout import BODY
from bodyfit.bodymodels.joints import SMPLX_JOINT
from bodyfit.fileio.images import write_png
from bodyfit.rendering.draw import draw_label, draw_points
from bodyfit.rendering.raster import MeshLayer, look_at_camera, rasterize

TILE = 360
FOCAL = 760.0
DISTANCE = 4.4


def demo_pose(model: BodyModel) -> BodyParams:
    """A recognisable pose: arms lowered and bent, one knee raised, head turned, a smile."""
    params = model.zero_params(1)

    def turn(joint: str, axis: int, angle: float) -> None:
        params.body_pose[0, 3 * (SMPLX_JOINT[joint] - 1) + axis] = angle

    turn("left_shoulder", 2, -1.1)
    turn("right_shoulder", 2, 0.6)
    turn("right_elbow", 1, 1.6)
    turn("left_hip", 0, -1.2)
    turn("left_knee", 0, 1.5)
    turn("neck", 1, 0.5)
    params.betas[0, 0] = 1.0
    params.expression[0, 0] = 2.0
    return params


def render_view(model: BodyModel, params: BodyParams, yaw_deg: float, with_keypoints: bool) -> np.ndarray:
    """One tile: the model seen from ``yaw_deg`` about the vertical (0 = front)."""
    with torch.no_grad():
        output = model(params)
    vertices = output.vertices[0].numpy()
    centre = (vertices.min(0) + vertices.max(0)) / 2
    angle = np.deg2rad(yaw_deg)
    eye = centre + DISTANCE * np.array([np.sin(angle), 0.0, np.cos(angle)])
    rotation, translation = look_at_camera(eye, centre)
    intrinsics = np.array([[FOCAL, 0, TILE / 2], [0, FOCAL, TILE / 2], [0, 0, 1]])
    camera = vertices @ rotation.T + translation
    image = rasterize([MeshLayer(camera, model.faces)], intrinsics, (TILE, TILE)).image
    if with_keypoints:
        points = output.keypoints[0, BODY].numpy() @ rotation.T + translation
        pixels = points[:, :2] / points[:, 2:] * FOCAL + TILE / 2
        colors = [(220, 40, 40) if index in (2, 3, 4, 9, 10, 11, 15, 17, 22, 23, 24) else (40, 90, 220)
                  for index in range(len(pixels))]
        image = draw_points(image, pixels, colors)
    return image


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("docs/open_model.png"))
    parser.add_argument("--model-folder", type=Path, default=None)
    args = parser.parse_args(argv)
    rows = []
    for gender in ("neutral", "male", "female"):
        model = BodyModel("smplx", gender, args.model_folder)
        rest, posed = model.zero_params(1), demo_pose(model)
        tiles = [render_view(model, rest, 0, True), render_view(model, rest, 90, False),
                 render_view(model, posed, 0, False), render_view(model, posed, 90, False)]
        row = np.concatenate(tiles, axis=1)
        row = draw_label(row, gender, (10, 10), size=24)
        rows.append(row)
    grid = np.concatenate(rows, axis=0)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_png(args.output, grid)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
