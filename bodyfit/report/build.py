"""``write_report``: ``OUTPUT/report.html`` from a bodyfit output folder alone."""
from __future__ import annotations

import logging
from pathlib import Path

from tqdm import tqdm

from bodyfit.fileio.atomic import write_text_atomic
from bodyfit.rendering.overlay import PERSON_COLORS
from bodyfit.report.collect import ReportError, check_output_folder, collect, read_json
from bodyfit.report.meshdata import MeshScripts
from bodyfit.report.page import people_data, render_page
from bodyfit.report.table import columns_for, people_table, person_colors

log = logging.getLogger("bodyfit")

REPORT_NAME = "report.html"


def write_report(output: Path | str, progress: bool = False) -> Path:
    """Writes ``output/report.html`` (and the 3D view's scripts in ``output/report_data/``)
    from the records, results, meshes and overlays in ``output``; returns its path.

    Raises ReportError (a ValueError) naming the folder when it is not a bodyfit output."""
    output = Path(output)
    check_output_folder(output)
    images = collect(output)
    people = [p for image in images for p in image.people]
    colors = person_colors(images, PERSON_COLORS)
    scripts = MeshScripts(output)
    meshes = {}
    for person in tqdm(people, desc="report", unit="person", disable=not progress or not people):
        if (src := scripts.write(person)) is not None:
            meshes[person.key] = src
    summary = read_json(output / "summary.json") if (output / "summary.json").is_file() else {}
    config = output / "config.yaml"
    html = render_page(output.resolve().name, images, summary if isinstance(summary, dict) else {},
                       people_table(people, columns_for(people, colors), meshes),
                       people_data(images, meshes, colors), config.read_text() if config.is_file() else None)
    path = output / REPORT_NAME
    try:
        write_text_atomic(path, html)
    except OSError as error:
        raise ReportError(f"{path}: cannot write the report: {error}") from error
    return path
