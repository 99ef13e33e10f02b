"""Put the DeepMimic clips into the corpus layout (66 wide, 30 fps) and write the corpus index
``data/poses/index.yaml``: one row per clip with its activity and split.

    python tools/bvh_to_smplx.py --all --compare     # first: the BVH clips and retargeting.yaml
    python tools/build_motion_index.py

The activities and segments below were read off the motion (root and foot heights, hand
heights, flight phases; see data/poses/README.md); the split is by clip.

Shapes: N source frames, M frames at 30 fps.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import yaml  # noqa: E402

from bodyfit.fileio.atomic import atomic_path, write_text_atomic  # noqa: E402
from bodyfit.motion.corpus import is_widened, read_index  # noqa: E402
from bodyfit.motion.resample import nominal_rate, resample_axis_angle, resample_linear, resample_times  # noqa: E402

TARGET_FPS = 30.0
DEEPMIMIC_LICENCE = "zlib (pybullet 3.2.7, Bullet Physics authors); see data/poses/deepmimic/NOTICE"
BODY_WIDTH = 66

# name -> (activity, split, segments [start, end) at 30 fps with a label, in the clip's own frames).
# Held out: forward bends, crouch-like and floor poses from three sources: the second half of
# CMU's climb (a different person from the DeepMimic actors: climbing onto a platform, reaching
# and hanging), the boxing clip's fall-lie-get-up part and DeepMimic's face-down get-up; plus
# one upright dance. Every activity with two or more clips keeps one in training.
CLIPS: dict[str, tuple[str, str, list]] = {
    "01_01": ("jump", "train", []),
    "01_03_a": ("climb", "train", [[0, 100, "walk"], [100, 340, "climb onto a platform and down"],
                                   [340, 420, "walk, stand"], [420, 545, "reach up and hang"]]),
    "01_03_b": ("climb", "heldout", [[0, 85, "walk, stand"], [85, 260, "climb onto a platform and down"],
                                     [260, 350, "walk, stand"], [350, 505, "reach up, hang, lift the feet"],
                                     [505, 583, "walk, stand"]]),
    "Boxing_Toes_box": ("box", "train", []),
    "Boxing_Toes_fall": ("getup", "heldout", [[0, 231, "fall to the floor, lie, get up"]]),
    "humanoid3d_backflip": ("flip", "train", []),
    "humanoid3d_cartwheel": ("cartwheel", "train", []),
    "humanoid3d_crawl": ("crawl", "train", []),
    "humanoid3d_dance_a": ("dance", "train", []),
    "humanoid3d_dance_b": ("dance", "heldout", []),
    "humanoid3d_getup_facedown": ("getup", "heldout", []),
    "humanoid3d_getup_faceup": ("getup", "train", []),
    "humanoid3d_jump": ("jump", "train", []),
    "humanoid3d_kick": ("kick", "train", []),
    "humanoid3d_punch": ("box", "train", []),
    "humanoid3d_roll": ("roll", "train", []),
    "humanoid3d_run": ("run", "train", []),
    "humanoid3d_spin": ("spin", "train", []),
    "humanoid3d_spinkick": ("kick", "train", []),
    "humanoid3d_walk": ("walk", "train", []),
}
# Clips cut from a longer file at an activity boundary: name -> (source clip, start, end) at 30 fps.
PARTS: dict[str, tuple[str, int, int]] = {
    "01_03_a": ("01_03", 0, 545), "01_03_b": ("01_03", 545, 1128),
    "Boxing_Toes_box": ("Boxing_Toes", 0, 690), "Boxing_Toes_fall": ("Boxing_Toes", 690, 921),
}


def resample_clip(poses: np.ndarray, trans: np.ndarray, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Body poses (M, 66) and trans (M, 3) at 30 fps from poses (N, >= 66) and trans (N, 3)."""
    times = resample_times(len(poses), nominal_rate(rate), TARGET_FPS)
    return resample_axis_angle(poses[:, :BODY_WIDTH], times), resample_linear(trans, times)


def convert_deepmimic(source: Path, target: Path) -> list[str]:
    """Writes every DeepMimic clip in ``source`` (SMPL-H layout, own rates) as a 30 fps
    66-wide clip in ``target``; returns the clip names."""
    names = []
    for path in sorted(source.glob("humanoid3d_*.npz")):
        with np.load(path) as data:
            poses, trans = resample_clip(data["poses"], data["trans"], float(data["mocap_framerate"]))
        record = {"poses": poses.astype(np.float32), "trans": trans.astype(np.float32),
                  "betas": np.zeros(10, np.float32), "gender": np.array("neutral"),
                  "mocap_framerate": np.array(TARGET_FPS), "source": np.array("deepmimic"),
                  "licence": np.array(DEEPMIMIC_LICENCE)}
        with atomic_path(target / path.name) as tmp:
            np.savez_compressed(tmp, **record)
        names.append(path.stem)
    return names


def index_row(name: str, file: str, root: Path, retargeting: dict) -> dict:
    """One index row: what the file holds, where it came from, its activity and split."""
    activity, split, segments = CLIPS[name]
    with np.load(root / file) as data:
        frames, fps = int(data["poses"].shape[0]), float(data["mocap_framerate"])
        source, licence = str(data["source"]), str(data["licence"])
    parent, start, end = PARTS.get(name, (name, 0, frames))
    if not 0 <= start < end <= frames:
        raise ValueError(f"{file}: part {name!r} [{start}, {end}) outside its {frames} frames")
    measured = retargeting.get(parent)
    error = measured["errors_mm"][measured["method"]] if measured else None
    row = {"name": name, "file": file, "source": source, "licence": licence, "frames": end - start, "fps": fps,
           "activity": activity, "split": split,
           "retarget_error_mm": error["normalised"] if error else None,
           "retarget_raw_error_mm": error["raw"] if error else None,
           "retarget_method": measured["method"] if measured else "deepmimic rotations (tools/convert_deepmimic.py)",
           "segments": [{"start": s, "end": e, "activity": a} for s, e, a in segments]}
    if name in PARTS:
        row["range"] = [start, end]
    return row


HELDOUT_SHARE = (0.2, 0.3)  # share of the real frames held out


def check_split(rows: list[dict]) -> None:
    """Raises ValueError when an activity with two or more clips has none in training, when no
    CMU clip (another person than DeepMimic's actors) is held out, or when the held-out share of
    frames is outside HELDOUT_SHARE."""
    for activity in {row["activity"] for row in rows}:
        splits = [row["split"] for row in rows if row["activity"] == activity]
        if len(splits) >= 2 and "train" not in splits:
            raise ValueError(f"activity {activity!r}: all {len(splits)} clips are held out")
    if not any(row["source"] == "cmu" and row["split"] == "heldout" for row in rows):
        raise ValueError("no CMU clip is held out")
    share = sum(r["frames"] for r in rows if r["split"] == "heldout") / sum(r["frames"] for r in rows)
    if not HELDOUT_SHARE[0] <= share <= HELDOUT_SHARE[1]:
        raise ValueError(f"{100 * share:.1f} % of the frames are held out; expected {HELDOUT_SHARE}")


def widened_rows(root: Path) -> list[dict]:
    """Index rows for the widened clips (``root``/widened/<split>_<kind>.npz, tools/widen_corpus.py)."""
    rows = []
    for path in sorted((root / "widened").glob("*.npz")):
        with np.load(path) as data:
            frames, fps = int(data["poses"].shape[0]), float(data["mocap_framerate"])
            source, licence, split = str(data["source"]), str(data["licence"]), str(data["split"])
            sources = [str(name) for name in data["source_clips"]]
        rows.append({"name": f"widened_{path.stem}", "file": f"widened/{path.name}", "source": source,
                     "licence": licence, "frames": frames, "fps": fps, "activity": f"widened ({source})",
                     "split": split, "retarget_error_mm": None, "retarget_raw_error_mm": None,
                     "retarget_method": "tools/widen_corpus.py", "segments": [], "source_clips": sources})
    return rows


def read_rows(root: Path) -> list[dict]:
    """The real clips' rows of the current index (the widened rows are rebuilt from their files)."""
    return [row for row in read_index(root) if not is_widened(row)]


def write_index(root: Path, rows: list[dict]) -> None:
    header = "# The open motion corpus: one row per clip (see data/poses/README.md). Written by tools/build_motion_index.py.\n"
    write_text_atomic(root / "index.yaml", header + yaml.safe_dump({"clips": rows}, sort_keys=False, width=120))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("data/poses"))
    args = parser.parse_args(argv)
    retargeting = yaml.safe_load((args.root / "retargeting.yaml").read_text())
    names = convert_deepmimic(args.root / "deepmimic", args.root / "deepmimic30")
    files = {name: row["file"] for name, row in retargeting.items()}
    files.update({name: f"deepmimic30/{name}.npz" for name in names})
    files.update({name: files[parent] for name, (parent, _, _) in PARTS.items() if parent in files})
    missing = sorted(set(CLIPS) - set(files))
    if missing:
        raise SystemExit(f"clips not converted yet: {missing}; run tools/bvh_to_smplx.py --all first")
    rows = [index_row(name, files[name], args.root, retargeting) for name in CLIPS]
    check_split(rows)
    write_index(args.root, rows + widened_rows(args.root))
    total = sum(row["frames"] for row in rows)
    for split in ("train", "heldout"):
        chosen = [row for row in rows if row["split"] == split]
        frames = sum(row["frames"] for row in chosen)
        print(f"{split:8s} {len(chosen):2d} clips {frames:5d} frames ({100 * frames / total:.1f} %): "
              + ", ".join(row["name"] for row in chosen))


if __name__ == "__main__":
    main()
