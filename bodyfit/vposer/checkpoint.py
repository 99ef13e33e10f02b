"""Saving and loading VPoser checkpoints: bodyfit's own, and official v2.05 experiment
folders (``V02_05/V02_05.yaml`` + ``snapshots/*.ckpt``, a PyTorch Lightning checkpoint whose
``state_dict`` keys start with ``vp_model.``). The file itself is read and written by
``fileio.checkpoints``; this module builds the model."""
from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import torch

from bodyfit.fileio.checkpoints import (Checkpoint, CheckpointError, CheckpointMissing, building_from, load_weights_only,
                                        read_checkpoint, resolve_checkpoint, write_checkpoint)
from bodyfit.resources import model_path
from bodyfit.vposer.model import VPoser, VPoserShape

KIND = "vposer"
FILE_NAME = "vposer.pt"
OFFICIAL_PREFIX = "vp_model."
DEFAULT_CHECKPOINT = model_path("vposer", "open_corpus", FILE_NAME)
log = logging.getLogger("bodyfit")


def save_checkpoint(path: Path | str, model: VPoser, extra: dict[str, Any] | None = None) -> None:
    """Writes ``model`` (weights, architecture) and ``extra`` (epoch, optimiser, metrics...) atomically."""
    write_checkpoint(path, KIND, model.shape.to_dict(), model.state_dict(), extra)


def read_vposer_checkpoint(path: Path | str) -> Checkpoint:
    """Everything the bodyfit VPoser checkpoint file ``path`` holds (``last.pt``: also
    ``optimizer``, ``epoch``, ``history`` in ``extra``, to resume training)."""
    return read_checkpoint(path, KIND, "VPoser")


def _official_snapshot(folder: Path) -> Path:
    """The snapshot of an official experiment folder with the lowest validation loss in its
    name (the last one by name if none says)."""
    snapshots = sorted((folder / "snapshots").glob("*.ckpt"))
    if not snapshots:
        raise CheckpointError(f"{folder}: no snapshots/*.ckpt (not an official VPoser folder)")

    def val_loss(path: Path) -> float:
        match = re.search(r"val_loss=([0-9.]+)", path.stem)
        return float(match.group(1).rstrip(".")) if match else float("inf")

    best = min(snapshots, key=val_loss)
    return best if val_loss(best) < float("inf") else snapshots[-1]


def load_official(path: Path) -> VPoser:
    """An official v2.05 VPoser (axis-angle in, 6D out) from its folder or a ``.ckpt``."""
    path = _official_snapshot(path) if path.is_dir() else path
    try:
        data = load_weights_only(path, "an official VPoser v2.05 snapshot")
    except CheckpointMissing:
        raise
    except CheckpointError:  # Lightning snapshots pickle their hyper-parameters
        log.warning("%s holds pickled objects; loading it as a trusted official snapshot", path)
        try:
            data = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as error:  # noqa: BLE001 - any unreadable file: one line naming it
            raise CheckpointError(f"{path}: cannot read this VPoser snapshot ({error})") from error
    state = data.get("state_dict", data) if isinstance(data, dict) else None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: no state_dict")
    weights = {k[len(OFFICIAL_PREFIX):]: v for k, v in state.items() if k.startswith(OFFICIAL_PREFIX)}
    if not weights:
        raise CheckpointError(f"{path}: no '{OFFICIAL_PREFIX}*' weights (not a VPoser v2 checkpoint)")
    model = VPoser(VPoserShape(encoder_input="axis_angle", decoder_output="6d"))
    try:
        model.load_state_dict(weights)
    except RuntimeError as error:
        raise CheckpointError(f"{path}: weights do not fit VPoser v2.05's layout ({error})") from error
    return model.eval()


def _is_official(path: Path | str | None) -> bool:
    """An official v2.05 experiment folder (no ``vposer.pt`` in it) or snapshot (``.ckpt``)."""
    if path is None or str(path) == "default":
        return False
    path = Path(path)
    return path.suffix == ".ckpt" or (path.is_dir() and not (path / FILE_NAME).is_file())


def resolve_vposer(path: Path | str | None) -> Path:
    """``default``/None -> the shipped checkpoint; a folder -> its ``vposer.pt``; a file -> itself."""
    return resolve_checkpoint(path, DEFAULT_CHECKPOINT, FILE_NAME)


def load_vposer(path: Path | str | None = "default") -> tuple[VPoser, dict[str, Any]]:
    """A VPoser in eval mode from bodyfit's checkpoint (``default``: the shipped one; a file, or a
    training folder holding ``vposer.pt``) or an official one (its folder or ``.ckpt``); and the
    checkpoint's other contents (``format``, ``shape`` and the extras)."""
    if _is_official(path):
        snapshot = _official_snapshot(Path(path)) if Path(path).is_dir() else Path(path)
        return load_official(snapshot), {"format": "official-v2.05", "path": str(snapshot)}
    checkpoint = read_vposer_checkpoint(resolve_vposer(path))
    with building_from(checkpoint.path):
        model = VPoser(VPoserShape(**checkpoint.shape))
        model.load_state_dict(checkpoint.state_dict)
    info = checkpoint.as_dict()
    del info["state_dict"]
    return model.eval(), info
