"""Rebuild a run's report from its output folder: ``bodyfit report OUTPUT``."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from bodyfit.report import ReportError, write_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bodyfit report",
                                     description="Write OUTPUT/report.html from a bodyfit output folder "
                                                 "(the folder fit.py's --output named).")
    parser.add_argument("output", type=Path, help="a bodyfit output folder")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    try:
        path = write_report(args.output, progress=not args.quiet)
    except ReportError as error:
        raise SystemExit(f"bodyfit report: {error}") from error
    logging.getLogger("bodyfit").info("report: %s", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
