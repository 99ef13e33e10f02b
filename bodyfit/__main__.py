"""``python -m bodyfit COMMAND ...``: the same as the ``bodyfit`` command."""
from bodyfit.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
