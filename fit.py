"""Checkout entry point: `python fit.py ...` is `bodyfit fit ...`."""
from bodyfit.cli.fit import main

if __name__ == "__main__":
    raise SystemExit(main())
