"""Saving and loading regressor checkpoints (``regressor.pt``: weights and architecture;
``last.pt``: also the discriminators and optimisers, to resume training)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from bodyfit.resources import model_path
from bodyfit.fileio.atomic import atomic_path
from bodyfit.regressor.model import Regressor, RegressorShape

FORMAT = "bodyfit-regressor-1"
DEFAULT_CHECKPOINT = model_path("regressor", "open_corpus", "regressor.pt")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file and the problem."""


def save_checkpoint(path: Path, model: Regressor, extra: dict[str, Any] | None = None) -> None:
    """Writes ``model`` (weights, architecture) and ``extra`` atomically."""
    payload = {"format": FORMAT, "shape": model.shape.to_dict(), "state_dict": model.state_dict(), **(extra or {})}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def read_payload(path: Path, expected_format: str, what: str, missing_hint: str = "") -> dict[str, Any]:
    """The checkpoint dict at ``path`` whose ``format`` is ``expected_format``;
    ``CheckpointError`` naming the file and the ``what`` expected (``missing_hint`` added when
    there is no file)."""
    if not path.is_file():
        raise CheckpointError(f"{path}: no such {what} checkpoint{missing_hint}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CheckpointError(f"{path}: cannot read checkpoint ({error})") from error
    if not isinstance(payload, dict) or payload.get("format") != expected_format:
        raise CheckpointError(f"{path}: not a bodyfit {what} checkpoint (format {expected_format!r} expected)")
    return payload


def _read(path: Path) -> dict[str, Any]:
    hint = " (the shipped one is missing: reinstall, or train one with python train_regressor.py)" \
        if path == DEFAULT_CHECKPOINT else ""
    return read_payload(path, FORMAT, "regressor", hint)


def load_training_state(path: Path) -> dict[str, Any]:
    """Everything ``last.pt`` holds."""
    return _read(Path(path))


def resolve(path: Path | str) -> Path:
    """``default`` -> the shipped checkpoint; a folder -> its ``regressor.pt``."""
    if str(path) == "default":
        return DEFAULT_CHECKPOINT
    path = Path(path)
    return path / "regressor.pt" if path.is_dir() else path


def load_regressor(path: Path | str = "default", device: torch.device | str = "cpu") -> Regressor:
    """The regressor of a checkpoint (``default``: the shipped one), in eval mode."""
    path = resolve(path)
    payload = _read(path)
    try:
        model = Regressor(RegressorShape(**payload["shape"]))
        model.load_state_dict(payload["state_dict"])
    except (TypeError, KeyError, RuntimeError) as error:
        raise CheckpointError(f"{path}: weights do not match the architecture ({error})") from error
    return model.to(device).eval()


def ship(source: Path | str, destination: Path | str) -> Path:
    """Writes the regressor of checkpoint ``source`` to ``destination``/regressor.pt with its
    weights in float16 (half the size; loading casts them back to the model's float32), with
    its architecture, step, history and config; ``destination``/regressor.pt."""
    source, destination = resolve(source), Path(destination)
    payload = _read(source)
    state = {name: value.half() if value.is_floating_point() else value for name, value in payload["state_dict"].items()}
    kept = {key: payload[key] for key in ("step", "history", "seconds", "config") if key in payload}
    path = destination / "regressor.pt"
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, "shape": payload["shape"], "state_dict": state, **kept}, tmp)
    return path
