"""Convert BVH motion capture to SMPL-X body poses (AMASS layout, 66 wide, 30 fps).

    python tools/bvh_to_smplx.py FILE.bvh --map cmu|boxing --output data/poses/<source>/<clip>.npz
    python tools/bvh_to_smplx.py --all --bvh-folder /tmp/assimp/usr/share/assimp/models/BVH [--compare]

Methods: ``rotation`` (a, rest-pose-aligned rotation transfer, tools/bvh_retarget.py),
``fit-raw`` (b as first stated: SMPL-X joints fitted to the BVH joints scaled to SMPL-X's size,
shape fitted too), ``fit`` (b on the BVH joints rebuilt with SMPL-X's segment lengths, so that
proportions do not bend the pose; the default, see data/poses/README.md). Both fits start from
(a). ``--all`` converts every known clip, prints the per-clip table (every method with
``--compare``) and writes data/poses/retargeting.yaml for the index.

Shapes: F source frames, M frames at the target rate, J BVH joints, K compared joints.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402

from bodyfit.bodymodels.layer import BodyModel  # noqa: E402
from bodyfit.fileio.atomic import atomic_path, write_text_atomic  # noqa: E402
from bodyfit.motion.resample import nominal_rate, resample_linear, resample_rotations, resample_times  # noqa: E402
from tools import retarget_error as errors  # noqa: E402
from tools.bvh import Bvh, chain_transforms, local_transforms, read_bvh, rest_positions  # noqa: E402
from tools.bvh_fit import FitSettings, fit_positions  # noqa: E402
from tools.bvh_retarget import hip_midpoint, retarget_rotations, root_translation  # noqa: E402
from tools.bvh_skeletons import MAPS, SkeletonMap  # noqa: E402

METHODS = ("rotation", "fit-raw", "fit")
DEFAULT_METHOD = "fit"
TARGET_FPS = 30.0
ASSIMP_PACKAGE = "Debian assimp-testmodels 5.2.5~ds0-1"
CMU_LICENCE = ("CMU Graphics Lab Motion Capture Database (mocap.cs.cmu.edu): free for research and commercial "
               "use; cgspeed BVH conversion adds no restrictions")
BOXING_LICENCE = "BSD-3-Clause (the assimp test models' licence; original source not stated)"
# Every known clip: BVH file, skeleton map, output folder (the source) and licence.
KNOWN_CLIPS = (("01_01.bvh", "cmu", "cmu", CMU_LICENCE), ("01_03.bvh", "cmu", "cmu", CMU_LICENCE),
               ("Boxing_Toes.bvh", "boxing", "boxing", BOXING_LICENCE))


@dataclass
class SmplxReference:
    """The open SMPL-X neutral model with its rest skeleton (55, 3) and the compared segments'
    lengths (S,) at rest, in metres."""
    model: BodyModel
    rest: np.ndarray
    lengths: np.ndarray

    @staticmethod
    def load() -> "SmplxReference":
        model = BodyModel("smplx", "neutral")
        with torch.no_grad():
            rest = model.keypoints(model.zero_params(1))[0][0].double().numpy()
        return SmplxReference(model, rest, errors.segment_lengths(rest[errors.SMPLX_POINT_INDICES]))

    def joints(self, poses: np.ndarray, trans: np.ndarray, betas: np.ndarray | None = None) -> np.ndarray:
        """(F, 55, 3) skeleton joints of poses (F, 66), trans (F, 3) and shared betas (10,)."""
        dtype = self.model.smpl.v_template.dtype
        params = self.model.zero_params(len(poses))
        params.global_orient = torch.as_tensor(poses[:, :3], dtype=dtype)
        params.body_pose = torch.as_tensor(poses[:, 3:66], dtype=dtype)
        params.transl = torch.as_tensor(trans, dtype=dtype)
        if betas is not None:
            params.betas = torch.as_tensor(betas, dtype=dtype)[None].expand(len(poses), -1).contiguous()
        with torch.no_grad():
            return self.model.keypoints(params)[0].double().numpy()


@dataclass
class Conversion:
    poses: np.ndarray  # (M, 66) axis-angle, root then 21 body joints
    trans: np.ndarray  # (M, 3) metres, Y up
    betas: np.ndarray  # (10,)
    fps: float
    source_fps: float
    source_frames: int
    normalised_mm: float  # mean length-normalised joint error (tools/retarget_error.py)
    raw_mm: float  # mean joint error after scaling to SMPL-X's size


def motion_at_rate(bvh: Bvh, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """World positions (M, J, 3) and rotations (M, J, 3, 3) of the BVH resampled to ``fps``
    (local rotations interpolated along the shortest arc, translations linearly)."""
    times = resample_times(bvh.num_frames, nominal_rate(bvh.frame_rate), fps)
    rotations, translations = local_transforms(bvh)
    return chain_transforms(bvh.parents, resample_rotations(rotations, times), resample_linear(translations, times))


def compared_points(positions: np.ndarray, bvh: Bvh, skeleton: SkeletonMap) -> np.ndarray:
    """(..., K, 3) the BVH joints that correspond to ``retarget_error.POINTS``."""
    return positions[..., [bvh.index(skeleton.positions[name]) for name in errors.POINTS], :]


def convert_bvh(bvh: Bvh, skeleton: SkeletonMap, method: str, reference: SmplxReference,
                fps: float = TARGET_FPS, settings: FitSettings | None = None) -> Conversion:
    """One BVH clip as SMPL-X poses at ``fps`` by ``method`` (one of METHODS), with its errors."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    bvh = dataclasses.replace(bvh, motion=bvh.motion[skeleton.lead_in_frames:])
    positions, world = motion_at_rate(bvh, fps)
    bvh_rest = rest_positions(bvh)
    points = compared_points(positions, bvh, skeleton)
    scale = errors.size_ratio(reference.rest[errors.SMPLX_POINT_INDICES], compared_points(bvh_rest, bvh, skeleton))
    poses, world22 = retarget_rotations(world, bvh_rest, bvh.names, reference.rest, skeleton)
    trans = root_translation(hip_midpoint(positions, bvh.names, skeleton), world22[:, 0], reference.rest, scale)
    betas = np.zeros(reference.model.num_betas)
    if method != "rotation":
        raw = method == "fit-raw"
        settings = settings or FitSettings(fit_betas=raw, normalise_lengths=not raw)
        fitted = fit_positions(reference.model, points, errors.SMPLX_POINT_INDICES, poses, trans, scale, settings)
        poses, trans, betas = fitted.poses, fitted.trans, fitted.betas
    smplx_points = reference.joints(poses, trans, betas)[:, errors.SMPLX_POINT_INDICES]
    normalised = errors.normalised_error(points * scale, smplx_points, reference.lengths)
    raw_error = errors.raw_error(points * scale, smplx_points)
    return Conversion(poses, trans, betas, fps, nominal_rate(bvh.frame_rate), bvh.num_frames,
                      float(normalised.mean() * 1000), float(raw_error.mean() * 1000))


def clip_record(conversion: Conversion, source: str, licence: str) -> dict[str, np.ndarray]:
    """The AMASS-layout arrays of one converted clip (float32 poses and trans)."""
    return {"poses": conversion.poses.astype(np.float32), "trans": conversion.trans.astype(np.float32),
            "betas": conversion.betas.astype(np.float32), "gender": np.array("neutral"),
            "mocap_framerate": np.array(conversion.fps), "source": np.array(source),
            "licence": np.array(licence)}


def write_clip(path: Path, record: dict[str, np.ndarray]) -> None:
    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, **record)


def convert_known_clips(folder: Path, root: Path, methods: tuple[str, ...], keep: str,
                        reference: SmplxReference) -> dict[str, dict]:
    """Converts every known clip in ``folder`` by each of ``methods``, writes the ``keep``
    method's result under ``root``/<source>/, and returns the per-clip table."""
    table = {}
    for file, map_name, source, licence in KNOWN_CLIPS:
        bvh = read_bvh(folder / file)
        row = {"file": f"{source}/{Path(file).stem}.npz", "source_frames": bvh.num_frames,
               "lead_in_dropped": MAPS[map_name].lead_in_frames, "source_fps": nominal_rate(bvh.frame_rate),
               "method": keep, "errors_mm": {}}
        for method in methods:
            conversion = convert_bvh(bvh, MAPS[map_name], method, reference)
            row["errors_mm"][method] = {"normalised": round(conversion.normalised_mm, 1),
                                        "raw": round(conversion.raw_mm, 1)}
            if method == keep:
                write_clip(root / row["file"], clip_record(conversion, source, licence))
                row["frames"] = len(conversion.poses)
                row["fps"] = conversion.fps
        table[Path(file).stem] = row
        print_row(Path(file).stem, row, methods)
    return table


def print_row(name: str, row: dict, methods: tuple[str, ...]) -> None:
    cells = "  ".join(f"{row['errors_mm'][m]['normalised']:6.1f} /{row['errors_mm'][m]['raw']:6.1f}" for m in methods)
    print(f"{name:16s} {row['source_frames']:6d} @{row['source_fps']:5.0f} -> {row['frames']:5d} @{row['fps']:3.0f}  {cells}",
          flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bvh", nargs="?", type=Path, help="one BVH file to convert")
    parser.add_argument("--map", choices=sorted(MAPS), help="the BVH's skeleton map")
    parser.add_argument("--output", type=Path, help="the .npz to write")
    parser.add_argument("--method", choices=METHODS, default=DEFAULT_METHOD)
    parser.add_argument("--source", default=None, help="source name stored in the file (default: the map)")
    parser.add_argument("--licence", default="not stated", help="licence text stored in the file")
    parser.add_argument("--all", action="store_true", help="convert every known clip")
    parser.add_argument("--compare", action="store_true", help="with --all: measure every method")
    parser.add_argument("--bvh-folder", type=Path, default=Path("/tmp/assimp/usr/share/assimp/models/BVH"))
    parser.add_argument("--root", type=Path, default=Path("data/poses"))
    args = parser.parse_args(argv)
    if not args.all and (args.bvh is None or args.map is None or args.output is None):
        parser.error("give FILE.bvh --map and --output, or --all")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(1)
    reference = SmplxReference.load()
    if not args.all:
        conversion = convert_bvh(read_bvh(args.bvh), MAPS[args.map], args.method, reference)
        write_clip(args.output, clip_record(conversion, args.source or args.map, args.licence))
        print(f"{args.output}: {len(conversion.poses)} frames at {conversion.fps:.0f} fps; error "
              f"{conversion.normalised_mm:.1f} mm length-normalised, {conversion.raw_mm:.1f} mm raw")
        return
    methods = METHODS if args.compare else (args.method,)
    print(f"{'clip':16s} {'source':>13s} -> {'30 fps':>9s}  " + "  ".join(f"{m + ' (norm/raw mm)':>15s}" for m in methods))
    table = convert_known_clips(args.bvh_folder, args.root, methods, args.method, reference)
    write_text_atomic(args.root / "retargeting.yaml", yaml.safe_dump(table, sort_keys=False))


if __name__ == "__main__":
    main()
