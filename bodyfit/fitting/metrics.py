"""The fit's reprojection error (the 3D joint errors, MPJPE and PA-MPJPE, are
``bodyfit.geometry``'s).

Shapes: N points.
"""
from __future__ import annotations

import numpy as np


def reprojection_error(projected: np.ndarray, observed: np.ndarray, confidence: np.ndarray,
                       threshold: float) -> float:
    """Median pixel distance over points with confidence above ``threshold`` (NaN if none)."""
    seen = confidence > threshold
    if not seen.any():
        return float("nan")
    return float(np.median(np.linalg.norm(projected[seen] - observed[seen], axis=-1)))
