"""Render frames of AMASS-format pose clips on the open model, to check a conversion by eye.

    python -m tools.render_poses data/poses/deepmimic/humanoid3d_walk.npz ... --output docs/deepmimic_frames.png
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from bodyfit.bodymodels.layer import BodyModel
from bodyfit.fileio.images import write_png
from bodyfit.rendering.draw import draw_label
from bodyfit.rendering.raster import MeshLayer, look_at_camera, rasterize

TILE = 300


def render_pose(model: BodyModel, pose66: np.ndarray) -> np.ndarray:
    """The body (global orientation kept, seen from 3/4 front) of one (66,) pose."""
    params = model.zero_params(1)
    params.global_orient[0] = torch.as_tensor(pose66[:3])
    params.body_pose[0] = torch.as_tensor(pose66[3:66])
    with torch.no_grad():
        vertices = model(params).vertices[0].numpy()
    centre = (vertices.min(0) + vertices.max(0)) / 2
    rotation, translation = look_at_camera(centre + [2.5, 0.6, 3.5], centre)
    intrinsics = np.array([[520.0, 0, TILE / 2], [0, 520.0, TILE / 2], [0, 0, 1]])
    return rasterize([MeshLayer(vertices @ rotation.T + translation, model.faces)], intrinsics, (TILE, TILE)).image


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", type=Path, nargs="+")
    parser.add_argument("--frames", type=int, default=4, help="frames per clip, evenly spaced")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args(argv)
    model = BodyModel()
    rows = []
    for clip in args.clips:
        poses = np.load(clip)["poses"]
        picks = np.linspace(0, len(poses) - 1, args.frames).round().astype(int)
        row = np.concatenate([render_pose(model, poses[i]) for i in picks], axis=1)
        row = draw_label(row, clip.stem.replace("humanoid3d_", ""), (8, 6))
        rows.append(row)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_png(args.output, np.concatenate(rows, axis=0))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
