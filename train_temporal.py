"""Checkout entry point: `python train_temporal.py ...` is `bodyfit train-temporal ...`."""
from bodyfit.cli.train_temporal import main

if __name__ == "__main__":
    raise SystemExit(main())
