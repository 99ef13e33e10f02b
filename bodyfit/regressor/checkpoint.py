"""Saving and loading regressor checkpoints (``regressor.pt``: weights and architecture;
``last.pt``: also the discriminators and optimisers, to resume training). The file itself
is read and written by ``fileio.checkpoints``; this module builds the model."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from bodyfit.fileio.checkpoints import (Checkpoint, building_from, half_precision, read_checkpoint,
                                        resolve_checkpoint, write_checkpoint)
from bodyfit.regressor.model import Regressor, RegressorShape
from bodyfit.resources import model_path

KIND = "regressor"
FILE_NAME = "regressor.pt"
DEFAULT_CHECKPOINT = model_path("regressor", "open_corpus", FILE_NAME)


def save_checkpoint(path: Path | str, model: Regressor, extra: dict[str, Any] | None = None) -> None:
    """Writes ``model`` (weights, architecture) and ``extra`` atomically."""
    write_checkpoint(path, KIND, model.shape.to_dict(), model.state_dict(), extra)


def _read(path: Path) -> Checkpoint:
    hint = " (the shipped one is missing: reinstall, or train one with bodyfit train-regressor)" \
        if path == DEFAULT_CHECKPOINT else ""
    return read_checkpoint(path, KIND, "regressor", hint)


def load_training_state(path: Path | str) -> dict[str, Any]:
    """Everything ``last.pt`` holds, as the file's dict (``shape``, ``state_dict``, ``step``...)."""
    return _read(Path(path)).as_dict()


def resolve(path: Path | str | None) -> Path:
    """``default``/None -> the shipped checkpoint; a folder -> its ``regressor.pt``; a file -> itself."""
    return resolve_checkpoint(path, DEFAULT_CHECKPOINT, FILE_NAME)


def load_regressor(path: Path | str | None = "default", device: torch.device | str = "cpu") -> Regressor:
    """The regressor of a checkpoint (``default``: the shipped one), in eval mode."""
    path = resolve(path)
    checkpoint = _read(path)
    with building_from(path):
        model = Regressor(RegressorShape(**checkpoint.shape))
        model.load_state_dict(checkpoint.state_dict)
    return model.to(device).eval()


def ship(source: Path | str, destination: Path | str) -> Path:
    """Writes the regressor of checkpoint ``source`` to ``destination``/regressor.pt with its
    weights in float16 (half the size; loading casts them back to the model's float32), with
    its architecture, step, history and config; ``destination``/regressor.pt."""
    checkpoint = _read(resolve(source))
    kept = {key: checkpoint.extra[key] for key in ("step", "history", "seconds", "config") if key in checkpoint.extra}
    return write_checkpoint(Path(destination) / FILE_NAME, KIND, checkpoint.shape,
                            half_precision(checkpoint.state_dict), kept)
