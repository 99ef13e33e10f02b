"""Copy a trained regressor into models/ as shipped: float16 weights (half the size), its
training config and metrics beside it.

    python -m tools.ship_regressor runs/regressor models/regressor/open_corpus
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from bodyfit.regressor.checkpoint import ship


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a train_regressor.py output folder")
    parser.add_argument("destination", type=Path)
    args = parser.parse_args(argv)
    args.destination.mkdir(parents=True, exist_ok=True)
    path = ship(args.run, args.destination)
    for name in ("config.yaml", "metrics.json"):
        if (args.run / name).is_file():
            shutil.copy(args.run / name, args.destination / name)
    print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MB)")


if __name__ == "__main__":
    main()
