"""SPIN's per-sample memory: the best fit found so far for every person of a dataset, with its
data term and whether it is good enough to teach the regressor. Written atomically; read
back to resume.

Shapes: N people.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch

from bodyfit.bodymodels.layer import BodyModel, BodyParams
from bodyfit.fileio.atomic import write_npz


@dataclass
class FitStore:
    """``keys`` (N,) who each row is (``<image stem>:<person index>``); ``global_orient``
    (N, 3), ``body_pose`` (N, 63), ``betas`` (N, 10), ``transl`` (N, 3) camera frame; ``data_term`` (N,) the stored fit's (inf: none yet); ``error_share`` (N,)
    its median 2D error over the person's box side; ``valid`` (N,) it may teach the
    regressor; ``updated`` (N,) the epoch it was last replaced (-1: never)."""

    keys: np.ndarray
    global_orient: np.ndarray
    body_pose: np.ndarray
    betas: np.ndarray
    transl: np.ndarray
    data_term: np.ndarray
    error_share: np.ndarray
    valid: np.ndarray
    updated: np.ndarray

    @staticmethod
    def empty(keys: list[str]) -> "FitStore":
        count = len(keys)
        zeros = lambda width: np.zeros((count, width), dtype=np.float32)  # noqa: E731
        return FitStore(np.array(keys, dtype=str), zeros(3), zeros(63), zeros(10), zeros(3), np.full(count, np.inf),
                        np.full(count, np.inf), np.zeros(count, dtype=bool), np.full(count, -1))

    def __len__(self) -> int:
        return len(self.data_term)

    def offer(self, rows: np.ndarray, params: dict[str, np.ndarray], data_term: np.ndarray,
              error_share: np.ndarray, max_error_share: float, epoch: int) -> np.ndarray:
        """Keeps, for each of ``rows``, the offered fit (params name -> (B, D)) where its data
        term is lower than the stored one; the (B,) mask of replaced rows."""
        better = np.isfinite(data_term) & (data_term < self.data_term[rows])
        chosen = rows[better]
        for name in ("global_orient", "body_pose", "betas", "transl"):
            getattr(self, name)[chosen] = params[name][better][:, :getattr(self, name).shape[1]]
        self.data_term[chosen], self.error_share[chosen] = data_term[better], error_share[better]
        self.valid[chosen] = error_share[better] < max_error_share
        self.updated[chosen] = epoch
        return better

    def to_params(self, rows: np.ndarray | list[int], model: BodyModel) -> BodyParams:
        """The stored fits of ``rows`` as ``model``'s parameters (B, D) (hands, face at rest)."""
        params = model.zero_params(len(rows))
        for name in ("global_orient", "body_pose", "transl"):
            setattr(params, name, torch.as_tensor(getattr(self, name)[rows]).to(params.betas))
        params.betas[:, :self.betas.shape[1]] = torch.as_tensor(self.betas[rows]).to(params.betas)
        return params

    def save(self, path: Path) -> None:
        write_npz(path, {f.name: getattr(self, f.name) for f in fields(self)})

    @staticmethod
    def load(path: Path, keys: list[str]) -> "FitStore":
        """The store at ``path``; ``ValueError`` naming it when its people are not ``keys``
        (the dataset changed since: its fits would land on the wrong people)."""
        try:
            with np.load(path, allow_pickle=False) as data:
                store = FitStore(**{f.name: data[f.name] for f in fields(FitStore)})
        except (OSError, KeyError, ValueError) as error:
            raise ValueError(f"{path}: not a SPIN fit store ({error})") from error
        if len(store) != len(keys) or not np.array_equal(store.keys, np.array(keys, dtype=str)):
            differ = next((f"{a} != {b}" for a, b in zip(store.keys, keys) if a != b), "a different count")
            raise ValueError(f"{path}: holds other people than the dataset ({len(store)} against {len(keys)}; "
                             f"first difference: {differ}); use another --output or --restart")
        return store
