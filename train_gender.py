"""Checkout entry point: `python train_gender.py ...` is `bodyfit train-gender ...`."""
from bodyfit.cli.train_gender import main

if __name__ == "__main__":
    raise SystemExit(main())
