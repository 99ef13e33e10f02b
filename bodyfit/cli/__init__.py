"""The ``bodyfit`` command: one subcommand per job, each with the options of its script.

    bodyfit fit --images DIR --keypoints DIR --output DIR
    bodyfit train-vposer | train-regressor | train-temporal | train-gender ...
    bodyfit report OUTPUT        bodyfit index OUTPUT        bodyfit detect --images DIR ...

Only the command line exits; every subcommand is ``main(argv) -> exit code``.
"""
from __future__ import annotations

import importlib
import sys

# subcommand -> (module under bodyfit, one line of help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "fit": ("bodyfit.cli.fit", "fit bodies to images, a sequence of frames or a video"),
    "detect": ("bodyfit.cli.detect", "detect keypoints in a folder of images"),
    "report": ("bodyfit.cli.report", "rebuild a run's report.html"),
    "index": ("bodyfit.cli.index", "rebuild a run's dataset index"),
    "train-vposer": ("bodyfit.cli.train_vposer", "train the VPoser pose prior"),
    "train-regressor": ("bodyfit.cli.train_regressor", "train the regressor, or run SPIN's loop"),
    "train-temporal": ("bodyfit.cli.train_temporal", "train the temporal regressor"),
    "train-gender": ("bodyfit.cli.train_gender", "train the gender classifier"),
}


def usage() -> str:
    width = max(map(len, SUBCOMMANDS))
    lines = [f"  {name:<{width}}  {about}" for name, (_, about) in SUBCOMMANDS.items()]
    return "usage: bodyfit COMMAND [options]   (bodyfit COMMAND --help for its options)\n\ncommands:\n" + "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``bodyfit COMMAND ...`` to the command's own ``main``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    if argv[0] == "--version":
        from bodyfit import __version__
        print(f"bodyfit {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        print(f"bodyfit: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(SUBCOMMANDS[name][0])
    return int(module.main(rest) or 0)
