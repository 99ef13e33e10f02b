"""A ``MultiViewCase`` (``motion.multiview_cases``) written as a user of such a rig has it,
plus its truth, in the layout the multi-view runner reads: ``Calib.toml`` (Pose2Sim), OpenPose
JSON per camera and frame, optional frames (grey, the true keypoints as dots) and ``truth.npz``.

Shapes: T frames, K keypoints (``fileio.keypoint_layout``), J skeleton joints, V cameras,
P_t detections of one camera in frame t, D a parameter's width.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from bodyfit.fileio.atomic import write_npz
from bodyfit.fileio.calibration import write_pose2sim_toml
from bodyfit.fileio.cameras import Camera
from bodyfit.fileio.openpose_json import KEYPOINT_SUFFIX, PersonKeypoints, write_openpose
from bodyfit.fileio.video import write_jpeg
from bodyfit.motion.cases import inside_image
from bodyfit.motion.multiview_cases import MultiViewCase, _image_points


def frame_stem(frame: int) -> str:
    """The file stem of frame ``frame``, the same in every camera: ``frame_000000``."""
    return f"frame_{frame:06d}"


_COLOURS = ((220, 60, 60), (60, 90, 220), (60, 180, 60))  # subject, background, more


def _write_images(case: MultiViewCase, camera: Camera, folder: Path, quality: int = 70) -> None:
    """``folder/<stem>.jpg`` per frame: grey, the true people's keypoints in view as dots."""
    height, width = camera.image_size
    pixels = [_image_points(camera, person.keypoints_3d)[0] for person in case.people]    # each (T, K, 2)
    for t in range(len(case)):
        canvas = Image.new("RGB", (width, height), (128, 128, 128))
        draw = ImageDraw.Draw(canvas)
        for index, person in enumerate(pixels):
            for x, y in person[t][inside_image(person[t], camera.image_size)]:
                draw.ellipse((x - 3, y - 3, x + 3, y + 3), fill=_COLOURS[min(index, len(_COLOURS) - 1)])
        write_jpeg(folder / f"{frame_stem(t)}.jpg", np.asarray(canvas), quality=quality)


def truth_arrays(case: MultiViewCase) -> dict[str, np.ndarray]:
    """What ``truth.npz`` holds: ``fps``, ``cameras`` (V,) names, per person p
    ``person<p>_keypoints_3d`` (T, K, 3), ``person<p>_joints_3d`` (T, J, 3), ``person<p>_<param>``
    (T, D) world parameters and ``person<p>_clip``; per camera ``identities_<camera>`` (T, P_max),
    each frame's detection identities in file order, padded with -2."""
    arrays: dict[str, np.ndarray] = {"fps": np.array(case.fps), "cameras": np.array(case.rig.names)}
    for index, person in enumerate(case.people):
        arrays[f"person{index}_keypoints_3d"] = person.keypoints_3d
        arrays[f"person{index}_joints_3d"] = person.joints_3d
        arrays[f"person{index}_clip"] = np.array(person.clip)
        for name, value in person.params.as_dict().items():
            arrays[f"person{index}_{name}"] = value.double().numpy()
    for name, frames in case.identities.items():
        padded = np.full((len(frames), max([len(ids) for ids in frames] + [1])), -2, dtype=np.int64)
        for t, ids in enumerate(frames):
            padded[t, :len(ids)] = ids
        arrays[f"identities_{name}"] = padded
    return arrays


def write_case(case: MultiViewCase, folder: Path | str, images: bool = True) -> None:
    """The inputs a user of a rig would have, and the truth: ``folder/Calib.toml`` (Pose2Sim),
    ``folder/keypoints/<camera>/<stem>_keypoints.json`` (OpenPose 1.3, every frame, an empty
    people list where nothing was detected), with ``images`` ``folder/images/<camera>/<stem>.jpg``
    (grey, the true keypoints as dots, the camera's image size), and ``folder/truth.npz``
    (``truth_arrays``). Stems are ``frame_stem``'s, the same in every camera."""
    folder = Path(folder)
    write_pose2sim_toml(case.rig, folder / "Calib.toml")
    for camera in case.rig:
        for t, rows in enumerate(case.observed[camera.name]):
            write_openpose(folder / "keypoints" / camera.name / f"{frame_stem(t)}{KEYPOINT_SUFFIX}",
                           [PersonKeypoints.from_layout(row) for row in rows])
        if images:
            _write_images(case, camera, folder / "images" / camera.name)
    write_npz(folder / "truth.npz", truth_arrays(case))
