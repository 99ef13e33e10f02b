"""Ordering names as people read them."""
from __future__ import annotations

import re


def natural_key(text: str) -> list[str | int]:
    """Sort key that puts ``frame_2`` before ``frame_10`` and ``cam2`` before ``cam10``: digit
    runs compare as numbers, the rest case-insensitively."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]
