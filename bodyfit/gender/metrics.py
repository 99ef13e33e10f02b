"""How well the classifier chooses: accuracy over every crop, and at a threshold the share kept
neutral (by a rule or by the threshold) and the accuracy of the gendered choices.

Shapes: N people.
"""
from __future__ import annotations

import numpy as np


def decision_figures(p_female: np.ndarray, labels: np.ndarray, threshold: float,
                     ruled_out: np.ndarray | None = None) -> dict[str, float]:
    """``p_female`` (N,), ``labels`` (N,) 0 female / 1 male, ``ruled_out`` (N,) bool: a rule
    keeps the person neutral. Returns accuracy (argmax, every crop), abstained (share left
    neutral), decided_accuracy (of the gendered choices), wrong (share given the wrong
    gender), count."""
    p_female, labels = np.asarray(p_female, dtype=np.float64), np.asarray(labels)
    ruled_out = np.zeros(len(labels), bool) if ruled_out is None else np.asarray(ruled_out, bool)
    predicted = (p_female < 0.5).astype(int)
    confident = np.maximum(p_female, 1 - p_female) >= threshold
    decided = confident & ~ruled_out
    correct = predicted == labels
    count = max(len(labels), 1)
    return {"count": int(len(labels)), "accuracy": float(correct.mean()) if len(labels) else float("nan"),
            "abstained": float(1 - decided.sum() / count),
            "decided_accuracy": float(correct[decided].mean()) if decided.any() else float("nan"),
            "wrong": float((decided & ~correct).sum() / count)}


def threshold_sweep(p_female: np.ndarray, labels: np.ndarray, thresholds: list[float],
                    ruled_out: np.ndarray | None = None) -> list[dict[str, float]]:
    """``decision_figures`` at each of ``thresholds`` (with the threshold in each row)."""
    return [{"threshold": t, **decision_figures(p_female, labels, t, ruled_out)} for t in thresholds]
