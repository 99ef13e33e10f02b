"""The dataset index of an output folder: one row per fitted person over every image's
results (``results/<image>/image.json`` and ``<pid:03d>.npz``), so a dataset of fits can be
filtered and loaded at once.

    bodyfit index OUTPUT

writes ``OUTPUT/index.npz`` (always; numpy only) and ``OUTPUT/index.parquet`` (when pyarrow
is installed). Columns (N people):

- ``image`` (N,) str, ``person`` (N,) int, ``model_type`` (N,) str, ``gender`` (N,) str,
  ``gender_p_female`` (N,) the classifier's p(female) with ``--gender auto`` (NaN otherwise or
  when a rule kept the person neutral);
- each parameter (``betas``, ``global_orient``, ``body_pose``, ..., ``transl``) (N, D), and
  ``focal_length`` (N, 2), ``camera_center`` (N, 2) (narrower rows padded with NaN);
- ``keypoints_3d`` (N, 25, 3) BODY_25 in the camera frame, metres;
- ``loss``, ``reprojection_error_px`` (N,), ``turned`` (N,) bool;
- per quality figure ``<name>``: ``quality_<name>`` (N,) its value (NaN: not computed),
  ``threshold_<name>`` (N,), ``flag_<name>`` (N,) bool; ``flags`` (N,) the flagged names
  joined by commas (a list of names in Parquet), ``flagged`` (N,) bool: any flag.

Every file is written atomically. The index is rebuilt from the folder, so it can be made
again at any time (after a resumed run, or from an older folder).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from bodyfit.fileio.atomic import atomic_path, write_npz
from bodyfit.quality.assess import FIGURES

log = logging.getLogger("bodyfit")

PARAMETERS = ("betas", "expression", "global_orient", "body_pose", "left_hand_pose", "right_hand_pose",
              "jaw_pose", "leye_pose", "reye_pose", "transl", "focal_length", "camera_center")
SCALARS = ("loss", "reprojection_error_px", "turned")

Row = dict[str, Any]


def person_row(image: str, entry: dict[str, Any], arrays: Any) -> Row:
    """One person's row from their ``image.json`` ``entry`` and their npz ``arrays``."""
    row: Row = {"image": image, "person": int(entry["index"]), "model_type": str(arrays["model_type"]),
                "gender": str(arrays["gender"]), "keypoints_3d": np.asarray(arrays["keypoints_3d"], dtype=np.float64),
                "gender_p_female": float(arrays["gender_p_female"]) if "gender_p_female" in arrays else float("nan")}
    for name in PARAMETERS:
        if name in arrays:
            row[name] = np.asarray(arrays[name], dtype=np.float64).reshape(-1)
    for name in SCALARS:
        row[name] = bool(arrays[name]) if name == "turned" else float(arrays[name])
    quality = entry.get("quality", {})
    row["quality"] = {name: (float("nan") if figure["value"] is None else float(figure["value"]),
                             float(figure["threshold"]), bool(figure["flag"])) for name, figure in quality.items()}
    row["flags"] = list(entry.get("flags", []))
    return row


def image_rows(record_file: Path) -> list[Row]:
    """The rows of the fitted people of one image record; a person whose files cannot be
    read is left out with a warning naming the file."""
    try:
        record = json.loads(record_file.read_text())
    except (OSError, ValueError) as error:
        log.warning("%s: not indexed: cannot read the image record (%s)", record_file, error)
        return []
    rows = []
    for entry in record.get("people", []):
        if entry.get("status") != "ok":
            continue
        path = record_file.parent / f"{int(entry['index']):03d}.npz"
        try:
            with np.load(path) as arrays:
                rows.append(person_row(record_file.parent.name, entry, arrays))
        except (OSError, ValueError, KeyError) as error:
            log.warning("%s: not indexed: %s", path, error)
    return rows


def collect_rows(output: Path) -> list[Row]:
    """Every fitted person's row under ``output/results``, by image then person."""
    results = Path(output) / "results"
    if not results.is_dir():
        raise FileNotFoundError(f"{results}: no results folder; is {output} a bodyfit fit output folder?")
    rows = []
    for record_file in sorted(results.glob("*/image.json")):
        rows += image_rows(record_file)
    return rows


def _stack(values: list[np.ndarray]) -> np.ndarray:
    """(N, D) rows of (D_i,) padded with NaN to the widest; (N, 0) with no rows."""
    width = max((len(v) for v in values), default=0)
    table = np.full((len(values), width), np.nan)
    for row, value in enumerate(values):
        table[row, :len(value)] = value
    return table


def _figure_names(rows: list[Row]) -> list[str]:
    seen = {name for row in rows for name in row["quality"]}
    return [name for name in FIGURES if name in seen] + sorted(seen - set(FIGURES))


def index_columns(rows: list[Row]) -> dict[str, np.ndarray]:
    """The index as named arrays, one row per person (see the module docstring)."""
    columns = {"image": np.array([r["image"] for r in rows], dtype=str),
               "person": np.array([r["person"] for r in rows], dtype=np.int64),
               "model_type": np.array([r["model_type"] for r in rows], dtype=str),
               "gender": np.array([r["gender"] for r in rows], dtype=str),
               "gender_p_female": np.array([r["gender_p_female"] for r in rows], dtype=np.float64),
               "keypoints_3d": np.stack([r["keypoints_3d"] for r in rows]) if rows else np.zeros((0, 25, 3))}
    for name in PARAMETERS:
        columns[name] = _stack([r.get(name, np.zeros(0)) for r in rows])
    for name in SCALARS:
        columns[name] = np.array([r[name] for r in rows], dtype=bool if name == "turned" else np.float64)
    missing = (float("nan"), float("nan"), False)
    for name in _figure_names(rows):
        value, threshold, flag = zip(*[r["quality"].get(name, missing) for r in rows]) if rows else ((), (), ())
        columns[f"quality_{name}"] = np.array(value, dtype=np.float64)
        columns[f"threshold_{name}"] = np.array(threshold, dtype=np.float64)
        columns[f"flag_{name}"] = np.array(flag, dtype=bool)
    columns["flags"] = np.array([",".join(r["flags"]) for r in rows], dtype=str)
    columns["flagged"] = np.array([bool(r["flags"]) for r in rows], dtype=bool)
    return columns


def write_parquet(path: Path, columns: dict[str, np.ndarray], rows: list[Row]) -> None:
    """The index as a Parquet table (needs pyarrow): arrays as (nested) lists per row."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = {name: (values.tolist() if values.ndim > 1 else values) for name, values in columns.items()}
    data["flags"] = pa.array([row["flags"] for row in rows], type=pa.list_(pa.string()))
    with atomic_path(path) as tmp:
        pq.write_table(pa.table(data), tmp)


def write_index(output: Path | str) -> list[Path]:
    """Writes ``output/index.npz`` and, with pyarrow installed, ``output/index.parquet`` over
    every fitted person under ``output``; the paths written."""
    output = Path(output)
    rows = collect_rows(output)
    columns = index_columns(rows)
    written = [output / "index.npz"]
    write_npz(written[0], columns)
    try:
        import pyarrow  # noqa: F401 - optional: pip install -e '.[index]'
    except ImportError:
        log.info("pyarrow is not installed: wrote %s only (pip install -e '.[index]' for index.parquet)", written[0])
        return written
    written.append(output / "index.parquet")
    write_parquet(written[1], columns, rows)
    return written
