"""Saving and loading VPoser checkpoints: bodyfit's own, and official v2.05 experiment
folders (``V02_05/V02_05.yaml`` + ``snapshots/*.ckpt``, a PyTorch Lightning checkpoint whose
``state_dict`` keys start with ``vp_model.``)."""
from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import torch

from bodyfit.resources import model_path
from bodyfit.fileio.atomic import atomic_path
from bodyfit.vposer.model import VPoser, VPoserShape

FORMAT = "bodyfit-vposer-1"
OFFICIAL_PREFIX = "vp_model."
DEFAULT_CHECKPOINT = model_path("vposer", "open_corpus", "vposer.pt")
log = logging.getLogger(__name__)


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file and the problem."""


def save_checkpoint(path: Path, model: VPoser, extra: dict[str, Any] | None = None) -> None:
    """Writes ``model`` (weights, architecture) and ``extra`` (epoch, optimiser, metrics...) atomically."""
    payload = {"format": FORMAT, "shape": model.shape.to_dict(), "state_dict": model.state_dict(), **(extra or {})}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def _torch_load(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # official Lightning files may pickle their hyper-parameters
        if not path.suffix == ".ckpt":
            raise CheckpointError(f"{path}: cannot read checkpoint ({error})") from error
        log.warning("%s holds pickled objects; loading it as a trusted file", path)
        return torch.load(path, map_location="cpu", weights_only=False)


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
    data = _torch_load(path)
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


def load_vposer(path: Path | str) -> tuple[VPoser, dict[str, Any]]:
    """A VPoser in eval mode from bodyfit's checkpoint (file, or a training folder holding
    ``vposer.pt``) or an official one; and the checkpoint's other contents."""
    path = Path(path)
    if path.is_dir() and (path / "vposer.pt").is_file():
        path = path / "vposer.pt"
    if path.is_dir() or path.suffix == ".ckpt":
        snapshot = _official_snapshot(path) if path.is_dir() else path
        return load_official(snapshot), {"format": "official-v2.05", "path": str(snapshot)}
    if not path.is_file():
        raise CheckpointError(f"{path}: no such VPoser checkpoint")
    data = _torch_load(path)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a bodyfit VPoser checkpoint")
    model = VPoser(VPoserShape(**data["shape"]))
    model.load_state_dict(data["state_dict"])
    return model.eval(), {k: v for k, v in data.items() if k != "state_dict"}
