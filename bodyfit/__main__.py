"""``python -m bodyfit COMMAND ...``: the same as the ``bodyfit`` command."""
from bodyfit.cli import main

raise SystemExit(main())
