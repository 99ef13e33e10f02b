"""Rebuild a run's dataset index (``index.npz``, and ``index.parquet`` with pyarrow):

    bodyfit index OUTPUT
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

from bodyfit.pipeline.index import write_index

log = logging.getLogger("bodyfit")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bodyfit index", description="Write the dataset index (index.npz, "
                                     "index.parquet) of a bodyfit fit output folder.")
    parser.add_argument("output", type=Path, help="the folder bodyfit fit wrote (with results/)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        paths = write_index(args.output)
    except (OSError, ValueError) as error:
        raise SystemExit(f"bodyfit index: {error}") from error
    with np.load(paths[0]) as index:
        log.info("%d people indexed: %s", len(index["image"]), ", ".join(str(p) for p in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
