"""Finding and reading SMPL, SMPL-H and SMPL-X model files (.npz and legacy .pkl).

Legacy .pkl files store arrays as chumpy objects, and chumpy no longer imports on current
numpy; ``read_model_file`` unpickles them with a restricted unpickler that turns chumpy
arrays into numpy arrays and refuses every other class outside numpy and scipy.sparse.
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from bodyfit.resources import model_path

MODEL_TYPES = ("smpl", "smplh", "smplx")
GENDERS = ("neutral", "male", "female")
OPEN_MODEL_FOLDER = model_path("open")

# File names each model type is distributed under, most preferred first.
_FILE_PATTERNS = {
    "smplx": ["SMPLX_{G}.npz", "SMPLX_{G}.pkl"],
    "smplh": ["SMPLH_{G}.npz", "SMPLH_{G}.pkl", "{g}/model.npz"],
    "smpl": ["SMPL_{G}.npz", "SMPL_{G}.pkl", "basic[Mm]odel_{s}_lbs_10_207_0_v1.*.pkl"],
}
_SHORT_GENDER = {"neutral": "neutral", "male": "m", "female": "f"}


class ModelFileError(ValueError):
    """A body model file is missing or unreadable; the message says which and why."""


def find_model_file(folder: Path | str, model_type: str, gender: str) -> Path:
    """The file of ``model_type`` and ``gender`` in ``folder`` or ``folder/model_type``."""
    if model_type not in MODEL_TYPES:
        raise ValueError(f"model_type must be one of {MODEL_TYPES}, got {model_type!r}")
    if gender not in GENDERS:
        raise ValueError(f"gender must be one of {GENDERS}, got {gender!r}")
    folder = Path(folder)
    looked = []
    for directory in (folder / model_type, folder):
        for pattern in _FILE_PATTERNS[model_type]:
            name = pattern.format(G=gender.upper(), g=gender, s=_SHORT_GENDER[gender])
            looked.append(str(directory / name))
            matches = sorted(directory.glob(name)) if directory.is_dir() else []
            if matches:
                return matches[0]
    hint = ("the open model ships SMPL-X only; give --model-folder with your own files (in a checkout, "
            "'python -m tools.build_open_model' rebuilds the open one)" if folder == OPEN_MODEL_FOLDER else
            f"download the {model_type.upper()} files from their official site and put them there")
    raise ModelFileError(f"no {model_type} {gender} model found; looked for: {', '.join(looked)}; {hint}")


class _ChumpyArray:
    """Stands in for a pickled chumpy object; its state holds the array as ``x``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def to_numpy(self) -> np.ndarray:
        state = self.state
        if isinstance(state, dict) and "x" in state:
            return np.asarray(state["x"])
        if isinstance(state, (tuple, list)) and state and isinstance(state[-1], dict) and "x" in state[-1]:
            return np.asarray(state[-1]["x"])
        raise pickle.UnpicklingError("chumpy object without an 'x' array")


class _ModelUnpickler(pickle.Unpickler):
    _ALLOWED_PREFIXES = ("numpy", "scipy.sparse", "copy_reg", "copyreg", "__builtin__", "builtins",
                         "collections")

    def find_class(self, module: str, name: str) -> Any:
        if module.split(".")[0] == "chumpy":
            return _ChumpyArray
        if module.startswith(self._ALLOWED_PREFIXES) or (module, name) == ("_codecs", "encode"):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a model file")


def _to_plain(value: Any) -> Any:
    if isinstance(value, _ChumpyArray):
        return value.to_numpy()
    if hasattr(value, "toarray") and hasattr(value, "tocsr"):  # scipy sparse matrix
        return value.toarray()
    return value


def read_model_file(path: Path | str) -> dict[str, Any]:
    """The arrays of a model file as a dict of numpy arrays (sparse matrices densified)."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such file")
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                raw = {key: data[key] for key in data.files}
        elif path.suffix == ".pkl":
            with open(path, "rb") as f:
                raw = _ModelUnpickler(f, encoding="latin1").load()
        else:
            raise ModelFileError(f"{path}: expected a .npz or .pkl model file")
    except (OSError, ValueError, EOFError, pickle.UnpicklingError) as error:
        raise ModelFileError(f"{path}: cannot read model file ({error})") from error
    if not isinstance(raw, dict):
        raise ModelFileError(f"{path}: expected a dict of arrays, got {type(raw).__name__}")
    data = {key: _to_plain(value) for key, value in raw.items()}
    for key in ("v_template", "f", "weights", "J_regressor", "shapedirs", "kintree_table"):
        if key not in data:
            raise ModelFileError(f"{path}: not a body model file (no '{key}')")
    return data
