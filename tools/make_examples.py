"""The shipped examples: renders of the open model with known parameters, their OpenPose
keypoints (projected, with pixel noise) and the ground truth.

    python -m tools.make_examples --output examples
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch

from bodyfit.bodymodels.layer import BodyModel
from bodyfit.fileio import atomic
from bodyfit.fileio.images import write_png
from bodyfit.fileio.openpose_json import PersonKeypoints, write_openpose
from bodyfit.fitting.synthetic import observe, sample_params
from bodyfit.geometry import project_numpy
from bodyfit.rendering.raster import MeshLayer, rasterize

IMAGE_SIZE = (600, 800)  # H, W
# Per example: the people as (yaw range, x offset metres).
SCENES = {
    "single_front": [((-30.0, 30.0), 0.0)],
    "single_side": [((60.0, 100.0), 0.0)],
    "two_people": [((-40.0, 0.0), -0.6), ((0.0, 40.0), 0.6)],
}


def background(height: int, width: int) -> np.ndarray:
    """A plain wall over a floor."""
    image = np.empty((height, width, 3), np.uint8)
    rows = np.linspace(0, 1, height)[:, None]
    wall = (np.array([200, 205, 215]) * (1 - 0.2 * rows)).astype(np.uint8)
    image[:] = wall[:, None, :]
    image[int(height * 0.78):] = (150, 140, 125)
    return image


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("examples"))
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    model = BodyModel()
    height, width = IMAGE_SIZE
    focal = math.hypot(width, height)  # what --focal-length auto assumes without EXIF
    intrinsics = np.array([focal, focal, width / 2, height / 2])
    matrix = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]])
    for stem, people in SCENES.items():
        layers, detections, truth = [], [], []
        for yaw_range, offset in people:
            params, yaw = sample_params(model, rng, yaw_range=yaw_range, distance_range=(3.8, 4.3))
            params.transl[0, 0] = offset
            params.transl[0, 1] = -0.05
            with torch.no_grad():
                out = model(params)
            points = out.keypoints[0].numpy().astype(np.float64)
            observed = observe(project_numpy(points, intrinsics), model.keypoint_valid.numpy(), rng, IMAGE_SIZE, noise_px=1.5, dropout=0.03)
            detections.append(PersonKeypoints.from_layout(observed))
            layers.append(MeshLayer(out.vertices[0].numpy(), model.faces, (205, 170, 150)))
            truth.append({name: value[0].tolist() for name, value in params.as_dict().items()} | {"yaw_deg": yaw})
        image = rasterize(layers, matrix, IMAGE_SIZE, background=background(height, width)).image
        write_png(args.output / "images" / f"{stem}.png", image)
        write_openpose(args.output / "keypoints" / f"{stem}_keypoints.json", detections)
        atomic.write_json(args.output / "ground_truth" / f"{stem}.json",
                           {"model": "open smplx neutral", "intrinsics": intrinsics.tolist(), "people": truth})
    print(f"wrote {len(SCENES)} examples under {args.output}")


if __name__ == "__main__":
    main()
