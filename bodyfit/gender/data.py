"""Labelled crops to train and score the classifier on: a user's photos (a folder per class, or
a CSV), and the synthetic people (``gender.synthetic``) rendered once into shards and cached.

Shapes: N crops (N, S, S, 3) uint8, S the crop side.
"""
from __future__ import annotations

import csv
import hashlib
import json
import logging
import multiprocessing
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from bodyfit.fileio.atomic import write_npz
from bodyfit.fileio.config import plain
from bodyfit.fileio.images import ImageError, read_image
from bodyfit.gender.config import GenderConfig
from bodyfit.gender.crops import SquareBox, cut_crop
from bodyfit.gender.network import CLASSES

log = logging.getLogger("bodyfit")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
LABEL_NAMES = {"female": 0, "f": 0, "woman": 0, "male": 1, "m": 1, "man": 1}
SHARD_SIZE = 500


@dataclass
class LabelledCrops:
    """``images`` (N, S, S, 3) uint8, ``labels`` (N,) int64 index into ``CLASSES``, ``names``
    (N,) where each came from (relative to the data's folder); ``meta`` name -> (N,) array (synthetic bins, rule outcomes)."""

    images: torch.Tensor
    labels: torch.Tensor
    names: list[str]
    meta: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, rows: np.ndarray) -> "LabelledCrops":
        rows = np.asarray(rows, dtype=np.int64)
        return LabelledCrops(self.images[rows], self.labels[rows], [self.names[i] for i in rows],
                             {key: value[rows] for key, value in self.meta.items()})


def parse_label(value: str, where: str) -> int:
    """The class index of a label (female/f/woman, male/m/man); ``ValueError`` naming ``where``."""
    key = value.strip().lower()
    if key not in LABEL_NAMES:
        raise ValueError(f"{where}: label {value!r} is not one of female, male")
    return LABEL_NAMES[key]


def square_whole(image: np.ndarray, size: int) -> np.ndarray:
    """A crop that is already a person: padded black to a square about its centre, resized."""
    height, width = image.shape[:2]
    side = max(height, width)
    return cut_crop(image, SquareBox((width - side) / 2, (height - side) / 2, side), size)


def _rows_from_csv(path: Path) -> list[tuple[Path, int, SquareBox | None]]:
    rows = []
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"path", "gender"} <= set(reader.fieldnames):
            raise ValueError(f"{path}: a CSV with columns path,gender[,x0,y0,x1,y1], got {reader.fieldnames}")
        for line, row in enumerate(reader, start=2):
            where = f"{path}:{line}"
            box = None
            if row.get("x0") not in (None, ""):
                try:
                    x0, y0, x1, y1 = (float(row[k]) for k in ("x0", "y0", "x1", "y1"))
                except (KeyError, TypeError, ValueError) as error:
                    raise ValueError(f"{where}: x0, y0, x1, y1 must be numbers ({error})") from error
                side = max(x1 - x0, y1 - y0)
                if side <= 0:
                    raise ValueError(f"{where}: an empty box {x0, y0, x1, y1}")
                box = SquareBox((x0 + x1) / 2 - side / 2, (y0 + y1) / 2 - side / 2, side)
            rows.append((path.parent / row["path"], parse_label(row["gender"], where), box))
    return rows


def _rows_from_folders(root: Path) -> list[tuple[Path, int, SquareBox | None]]:
    rows = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        label = parse_label(folder.name, str(folder))
        rows += [(path, label, None) for path in sorted(folder.rglob("*")) if path.suffix.lower() in IMAGE_SUFFIXES]
    return rows


def read_labelled(data: Path | str, size: int, margin: float = 0.08) -> LabelledCrops:
    """A user's labelled people: ``data`` a CSV (path,gender[,x0,y0,x1,y1]; a box is grown by
    ``margin`` and made square), a folder holding ``labels.csv``, or a folder with one
    subfolder per class (female/, male/) of person crops. Unreadable images are skipped with
    a warning naming them; ``ValueError`` when nothing usable is found."""
    data = Path(data)
    if not data.exists():
        raise FileNotFoundError(f"{data}: no such file or folder")
    csv_file = data if data.is_file() else data / "labels.csv"
    rows = _rows_from_csv(csv_file) if csv_file.is_file() else _rows_from_folders(data)
    root = csv_file.parent if csv_file.is_file() else data  # names relative to it: a moved folder keeps its split
    images, labels, names = [], [], []
    for path, label, box in tqdm(rows, desc="reading crops", unit="img", disable=len(rows) < 200):
        try:
            image = read_image(path)
        except (ImageError, OSError) as error:
            log.warning("%s: skipped: %s", path, error)
            continue
        if box is not None:
            grown = box.side * (1 + 2 * margin)
            box = SquareBox(box.x0 - box.side * margin, box.y0 - box.side * margin, grown)
            images.append(cut_crop(image, box, size))
        else:
            images.append(square_whole(image, size))
        labels.append(label)
        names.append(path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path))
    if not images:
        raise ValueError(f"{data}: no readable labelled images (a folder per class: female/, male/; "
                         "or a CSV path,gender[,x0,y0,x1,y1])")
    counts = np.bincount(labels, minlength=len(CLASSES))
    log.info("%s: %s", data, ", ".join(f"{n} {c}" for c, n in zip(CLASSES, counts)))
    return LabelledCrops(torch.as_tensor(np.stack(images)), torch.as_tensor(labels, dtype=torch.int64), names)


def heldout_rows(names: list[str], share: float) -> np.ndarray:
    """(N,) bool: the names kept out for scoring, by a hash of the name (stable across runs)."""
    def fraction(name: str) -> float:
        return int(hashlib.sha1(name.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return np.array([fraction(name) < share for name in names], dtype=bool)


# --- synthetic shards ------------------------------------------------------------------

_renderer = None
RENDERER_VERSION = 3  # raise when gender/synthetic.py draws people differently: cached shards render anew


def _start_worker(config: GenderConfig, split: str, backgrounds: tuple[str, ...]) -> None:
    global _renderer
    torch.set_num_threads(1)
    from bodyfit.bodymodels.layer import BodyModel
    from bodyfit.gender.synthetic import PersonRenderer, load_backgrounds
    models = {gender: BodyModel("smplx", gender) for gender in CLASSES}
    _renderer = PersonRenderer(models, config, split, load_backgrounds(backgrounds))


def _render_shard(job: tuple[Path, int, int, int]) -> Path:
    path, seed, first, count = job
    rng = np.random.default_rng(seed)
    people = []
    while len(people) < count:
        person = _renderer.render(rng, f"{path.stem}_{first + len(people):06d}")
        if person is not None:
            people.append(person)
    write_npz(path, {"images": np.stack([p.crop for p in people]), "labels": np.array([p.label for p in people]),
                     "neutral_reason": np.array([p.neutral_reason for p in people]),
                     "view": np.array([p.view for p in people]), "truncated": np.array([p.truncated for p in people]),
                     "source": np.array([p.source for p in people]), "box_side": np.array([p.box_side for p in people])})
    return path


def synthetic_set(folder: Path | str, split: str, count: int, config: GenderConfig, workers: int = 1
                  ) -> LabelledCrops:
    """``count`` synthetic people of the corpus's ``split`` clips ("train": the training
    backgrounds; "heldout": the held-out ones), rendered in shards of ``SHARD_SIZE`` into
    ``folder`` by ``workers`` processes; shards already there are reused (a rerun resumes)."""
    folder = Path(folder)
    synth = config.synthetic
    backgrounds = synth.train_backgrounds if split == "train" else synth.heldout_backgrounds
    tag = f"{split}_{synthetic_fingerprint(config)}"
    jobs = []
    for shard, first in enumerate(range(0, count, SHARD_SIZE)):
        size = min(SHARD_SIZE, count - first)
        path = folder / f"{tag}_{shard:03d}_{size}.npz"
        seed = synth.seed * 100_000 + shard * 2 + (split != "train")
        jobs.append((path, seed, first, size))
    todo = [job for job in jobs if not job[0].exists()]
    if todo:
        context = multiprocessing.get_context("spawn")
        with context.Pool(workers, _start_worker, (config, split, backgrounds)) as pool:
            for _ in tqdm(pool.imap_unordered(_render_shard, todo), total=len(todo), unit="shard",
                          desc=f"rendering {split} people ({SHARD_SIZE} a shard)"):
                pass
    parts = []
    for job in jobs:
        with np.load(job[0]) as part:
            parts.append({key: part[key] for key in part.files})
    meta = {key: np.concatenate([part[key] for part in parts])
            for key in ("neutral_reason", "view", "truncated", "source", "box_side")}
    names = [f"{split}:{name}" for name in meta["source"]]
    return LabelledCrops(torch.as_tensor(np.concatenate([part["images"] for part in parts])),
                         torch.as_tensor(np.concatenate([part["labels"] for part in parts]), dtype=torch.int64),
                         names, meta)


def synthetic_fingerprint(config: GenderConfig) -> str:
    """A short hash of what a rendered shard depends on (the synthetic section but its counts,
    the crop, the crop size, the rules but their threshold, ``RENDERER_VERSION``): changed
    settings render anew."""
    rules = {k: v for k, v in plain(config.rules).items() if k != "threshold"}
    synthetic = {k: v for k, v in plain(config.synthetic).items() if k not in ("train_people", "heldout_people")}
    settings = {"synthetic": synthetic, "crop": plain(config.crop), "model": plain(config.model), "rules": rules,
                "renderer": RENDERER_VERSION}
    return hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]
