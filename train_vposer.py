"""Checkout entry point: `python train_vposer.py ...` is `bodyfit train-vposer ...`."""
from bodyfit.cli.train_vposer import main

if __name__ == "__main__":
    raise SystemExit(main())
