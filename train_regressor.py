"""Checkout entry point: `python train_regressor.py ...` is `bodyfit train-regressor ...`."""
from bodyfit.cli.train_regressor import main

if __name__ == "__main__":
    raise SystemExit(main())
