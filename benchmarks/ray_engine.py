"""The plain engine against Ray with 1 and 2 workers, on the same images: wall time, people
per second, Ray's start-up, and how far the fits of each Ray run are from the plain run's.

The images are realistic accuracy cases (``motion.cases``) written as a folder a user would
have: a blank image of the case's size and its OpenPose file. Each engine runs ``fit.py`` in a
fresh process (imports, model loading and Ray's start included in the wall time).

    python benchmarks/ray_engine.py --cases 128 --output output/ray_engine
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from bodyfit.bodymodels.layer import BodyModel
from bodyfit.fileio.atomic import write_json, write_text_atomic
from bodyfit.fileio.openpose_json import PersonKeypoints, write_openpose
from bodyfit.motion.cases import make_cases

REPO = Path(__file__).resolve().parents[1]


def write_folder(root: Path, count: int, seed: int) -> tuple[Path, Path]:
    """``count`` cases as ``root/images/<case>.png`` (blank) + ``root/keypoints``."""
    images, keypoints = root / "images", root / "keypoints"
    images.mkdir(parents=True, exist_ok=True), keypoints.mkdir(parents=True, exist_ok=True)
    for index, case in enumerate(tqdm(make_cases(BodyModel("smplx"), count, seed), desc="cases", unit="case")):
        stem = f"case_{index:04d}"
        height, width = case.image_size
        Image.new("RGB", (width, height), (128, 128, 128)).save(images / f"{stem}.png")
        write_openpose(keypoints / f"{stem}_keypoints.json", [PersonKeypoints.from_layout(case.observed)])
    return images, keypoints


def run_engine(images: Path, keypoints: Path, output: Path, batch_size: int, engine: list[str]) -> dict:
    """Runs fit.py in its own process; wall seconds, Ray's reported start-up, people fitted."""
    command = [sys.executable, str(REPO / "fit.py"), "--images", str(images), "--keypoints", str(keypoints),
               "--output", str(output), "--no-overlay", "--overwrite", "--batch-size", str(batch_size), *engine]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    started = re.search(r"Ray: \d+ workers started in ([\d.]+) s", done.stderr)
    summary = json.loads((output / "summary.json").read_text())
    return {"wall_s": wall, "ray_start_s": float(started.group(1)) if started else 0.0,
            "fit_s": summary["run_seconds"], "people": summary["people_fitted"]}


def keypoints_of(output: Path) -> dict[str, np.ndarray]:
    """"case:person" -> (25, 3) 3D body keypoints of every fit under ``output``."""
    found = {}
    for path in sorted((output / "results").glob("*/*.npz")):
        with np.load(path) as arrays:
            found[f"{path.parent.name}:{path.stem}"] = arrays["keypoints_3d"]
    return found


def difference_mm(reference: dict[str, np.ndarray], other: dict[str, np.ndarray]) -> dict[str, float]:
    """Per person, the largest distance (mm) between the two runs' body keypoints."""
    common = sorted(set(reference) & set(other))
    distances = np.array([np.linalg.norm(reference[k] - other[k], axis=-1).max() for k in common]) * 1000
    return {"people_compared": len(common), "missing": len(set(reference) ^ set(other)),
            "median_mm": float(np.median(distances)), "mean_mm": float(distances.mean()),
            "max_mm": float(distances.max()), "over_10mm": int((distances > 10).sum())}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--output", type=Path, default=REPO / "output" / "ray_engine")
    args = parser.parse_args(argv)
    images, keypoints = write_folder(args.output / "data", args.cases, args.seed)
    runs = {"plain": run_engine(images, keypoints, args.output / "plain", args.batch_size, [])}
    reference = keypoints_of(args.output / "plain")
    for workers in args.workers:
        name = f"ray, {workers} worker{'s' if workers > 1 else ''}"
        folder = args.output / f"ray_{workers}"
        runs[name] = run_engine(images, keypoints, folder, args.batch_size,
                                ["--engine", "ray", "--workers", str(workers)])
        runs[name]["vs_plain"] = difference_mm(reference, keypoints_of(folder))
    lines = ["| engine | people | wall s | Ray start s | people/s (wall) | people/s (run, Ray start included) | "
             "max keypoint gap to plain, median / max mm |", "|---|---|---|---|---|---|---|"]
    for name, row in runs.items():
        gap = row.get("vs_plain")
        gap_text = f"{gap['median_mm']:.2f} / {gap['max_mm']:.2f}" if gap else "-"
        lines.append(f"| {name} | {row['people']} | {row['wall_s']:.1f} | {row['ray_start_s']:.1f} | "
                     f"{row['people'] / row['wall_s']:.2f} | {row['people'] / row['fit_s']:.2f} | {gap_text} |")
    text = "\n".join(lines)
    print(text)
    settings = {key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()}
    write_text_atomic(args.output / "summary.md", f"# plain vs Ray\n\n`{json.dumps(settings)}`\n\n{text}\n")
    write_json(args.output / "summary.json", {"settings": settings, "runs": runs})


if __name__ == "__main__":
    main()
