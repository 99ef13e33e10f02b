"""The one checkpoint file of every learned part (VPoser, the regressor, the temporal
regressor, the gender classifier): written atomically, read with ``torch.load(...,
weights_only=True)`` (tensors and plain containers only, nothing executed), and found from a
path argument the same way for all.

A checkpoint is one dict: ``format`` (``"bodyfit-<kind>-1"``, the kind tag), ``shape`` (the
architecture, a plain dict), ``state_dict`` (the weights) and the extra metadata (step,
history, metrics, optimiser states...) beside them. Each part's module builds its model from
``shape`` and loads ``state_dict``; nothing here knows a model.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from bodyfit.fileio.atomic import atomic_path

VERSION = 1
RESERVED = ("format", "shape", "state_dict")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file and the problem."""


class CheckpointMissing(CheckpointError, FileNotFoundError):
    """No checkpoint file where one was asked for (both a ``ValueError`` and a ``FileNotFoundError``)."""


@dataclass
class Checkpoint:
    """What a checkpoint file holds: its ``kind`` tag, the architecture ``shape``, the weights
    ``state_dict`` and every other entry in ``extra``; ``path`` is where it was read."""

    kind: str
    shape: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    extra: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def as_dict(self) -> dict[str, Any]:
        """The file's dict as written: ``format``, ``shape``, ``state_dict`` and the extras."""
        return {"format": format_tag(self.kind), "shape": self.shape, "state_dict": self.state_dict, **self.extra}


def format_tag(kind: str) -> str:
    """``"regressor"`` -> ``"bodyfit-regressor-1"``, the ``format`` entry of its files."""
    return f"bodyfit-{kind}-{VERSION}"


def write_checkpoint(path: Path | str, kind: str, shape: dict[str, Any], state_dict: dict[str, torch.Tensor],
                     extra: dict[str, Any] | None = None) -> Path:
    """Writes one checkpoint of ``kind`` to ``path`` atomically (an interrupted write leaves the
    old file); ``extra`` may not use the names ``format``, ``shape``, ``state_dict``. Returns ``path``."""
    clash = sorted(set(extra or {}) & set(RESERVED))
    if clash:
        raise ValueError(f"{path}: extra metadata may not be named {clash}")
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(Checkpoint(kind, dict(shape), dict(state_dict), dict(extra or {})).as_dict(), tmp)
    return path


def half_precision(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state_dict`` with its floating-point tensors in float16 (half the file; loading into a
    float32 model casts them back); integer buffers as they are."""
    return {name: value.half() if value.is_floating_point() else value for name, value in state_dict.items()}


def resolve_checkpoint(path: Path | str | None, default: Path, file_name: str) -> Path:
    """The checkpoint file a path argument names: ``None`` or ``"default"`` -> ``default`` (the
    shipped file), a folder -> its ``file_name``, a file (or a path not there) -> itself."""
    if path is None or str(path) == "default":
        return Path(default)
    path = Path(path)
    return path / file_name if path.is_dir() else path


def load_weights_only(path: Path | str, what: str, missing_hint: str = "") -> Any:
    """Whatever the torch file at ``path`` holds, read on the CPU with ``weights_only=True``
    (tensors and plain containers; nothing in the file runs). ``what`` says what was expected
    (``"a bodyfit VPoser checkpoint"``). ``CheckpointMissing`` when there is no file
    (``missing_hint`` added: how to get one), ``CheckpointError`` naming the file when it cannot
    be read (damaged, truncated, not a torch file, or pickling objects other than tensors)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointMissing(f"{path}: no such file; {what} expected there{missing_hint}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable file gets one message naming it
        raise CheckpointError(f"{path}: not {what} (unreadable: damaged, or not a file of tensors; {error})") from error


def read_checkpoint(path: Path | str, kind: str, what: str | None = None, missing_hint: str = "") -> Checkpoint:
    """The checkpoint of ``kind`` at ``path`` (a file; see ``resolve_checkpoint``). Errors name
    the file: ``CheckpointMissing`` when it is not there (``missing_hint`` added: how to get
    one), ``CheckpointError`` when it is damaged or holds another kind. ``what`` names the kind
    in messages (default: ``kind``). A file without ``shape`` (gender classifiers written
    before this module) gives ``shape == {}``."""
    path, what = Path(path), what or kind
    payload = load_weights_only(path, f"a bodyfit {what} checkpoint", missing_hint)
    expected = format_tag(kind)
    found = payload.get("format") if isinstance(payload, dict) else None
    if found != expected:
        holds = f"a {found[len('bodyfit-'):].rsplit('-', 1)[0]} checkpoint" \
            if isinstance(found, str) and found.startswith("bodyfit-") else "no bodyfit format tag"
        raise CheckpointError(f"{path}: not a bodyfit {what} checkpoint (format {expected!r} expected; it holds {holds})")
    extra = {key: value for key, value in payload.items() if key not in RESERVED}
    shape, state_dict = payload.get("shape", {}), payload.get("state_dict")
    if not isinstance(shape, dict) or not isinstance(state_dict, dict):
        raise CheckpointError(f"{path}: a damaged {what} checkpoint (no architecture dict or no state dict)")
    return Checkpoint(kind, shape, state_dict, extra, path)


@contextmanager
def building_from(path: Path | str | None) -> Iterator[None]:
    """Around building a model from a checkpoint's ``shape`` and loading its ``state_dict``:
    an architecture that cannot be built or weights that do not fit it become one
    ``CheckpointError`` naming the file (float16 weights load into float32 models as they are:
    ``load_state_dict`` casts)."""
    try:
        yield
    except CheckpointError:
        raise
    except (TypeError, KeyError, ValueError, RuntimeError) as error:
        raise CheckpointError(f"{path}: weights do not match the architecture ({error})") from error
