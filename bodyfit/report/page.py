"""The report page: a summary, the 3D view with the chosen fit's overlay and figures,
histograms, the sortable people table and the images with their overlays, one page of
cards at a time. One self-contained HTML file: the styles and the script are inlined, the
pictures are referenced relative to the report and the 3D data are scripts beside it."""
from __future__ import annotations

import json
import time
from html import escape

import numpy as np

from bodyfit.resources import package_path
from bodyfit.report.collect import ImageEntry, Person, finite, quality_names
from bodyfit.report.histogram import histogram_svg

ASSETS = package_path("report", "assets")
CARDS_PER_PAGE = 48


def asset(name: str) -> str:
    return (ASSETS / name).read_text()


def script_json(data: object) -> str:
    """JSON safe inside a ``<script>`` element (no ``</script>`` can close it early)."""
    return json.dumps(data, separators=(",", ":")).replace("<", "\\u003c")


def figures_of(person: Person) -> list[tuple[str, str, bool]]:
    """(name, value text, flagged) of a person, for the panel beside the 3D view."""
    figures = [("status", person.status, person.status != "ok")]
    for name, label, digits in (("reprojection_error_px", "2D error px", ".2f"), ("loss", "loss", ".4g"),
                                ("time_s", "time s", ".2f")):
        if (value := person.number(name)) is not None:
            figures.append((label, format(value, digits), False))
    for name in ("track_id", "frame_index"):
        if (value := person.number(name)) is not None:
            figures.append((name.replace("_", " "), format(value, "g"), False))
    for name, figure in person.quality().items():
        value = finite(figure.get("value")) if isinstance(figure, dict) else None
        if value is not None:
            figures.append((name.replace("_", " "), format(value, ".3g"), bool(figure.get("flag"))))
    if person.entry.get("reason"):
        figures.append(("reason", str(person.entry["reason"]), True))
    return figures


def people_data(images: list[ImageEntry], meshes: dict[str, str], colors: dict[str, tuple[int, int, int]]) -> dict:
    """What the page's script needs of each person: its 3D data's script, picture, colour, figures."""
    return {p.key: {"mesh": meshes.get(p.key), "picture": image.picture, "color": colors.get(p.key),
                    "title": f"{p.image_id} \u00b7 person {p.index:03d}", "figures": figures_of(p)}
            for image in images for p in image.people}


def tile(label: str, value: str, css: str = "") -> str:
    return f'<div class="tile {css}"><div class="value">{escape(value)}</div><div class="label">{escape(label)}</div></div>'


def summary_tiles(images: list[ImageEntry], summary: dict) -> str:
    people = [p for image in images for p in image.people]
    counts = {s: sum(i.status == s for i in images) for s in ("ok", "skipped", "failed")}
    errors = np.array([p.number("reprojection_error_px") for p in people if p.status == "ok"
                       and p.number("reprojection_error_px") is not None], dtype=float)
    flagged = sum(bool(p.flags()) for p in people)
    tiles = [tile("images", str(len(images)))]
    tiles += [tile(label, str(counts[status]), status if counts[status] else "")
              for label, status in (("fitted", "ok"), ("skipped", "skipped"), ("failed", "failed"))]
    tiles.append(tile("people fitted", str(sum(p.status == "ok" for p in people))))
    if len(errors):
        tiles.append(tile("median 2D error", f"{np.median(errors):.2f} px"))
        tiles.append(tile("90th pct 2D error", f"{np.percentile(errors, 90):.2f} px"))
    if any(p.quality() or p.flags() for p in people):
        tiles.append(tile("people flagged", str(flagged), "failed" if flagged else ""))
    if (seconds := finite(summary.get("run_seconds"))) is not None:
        tiles.append(tile("last run", f"{seconds:.1f} s"))
    return f'<section class="tiles">{"".join(tiles)}</section>'


def numbers(people: list[Person], name: str) -> np.ndarray:
    """(N,) the finite values of entry field ``name``."""
    return np.array([v for p in people if (v := p.number(name)) is not None], dtype=float)


def main_histograms(people: list[Person]) -> str:
    """The fitted people's 2D error and loss."""
    fitted = [p for p in people if p.status == "ok"]
    return (histogram_svg(numbers(fitted, "reprojection_error_px"), "2D error (median over body keypoints)", " px")
            + histogram_svg(numbers(fitted, "loss"), "final loss"))


def quality_histograms(people: list[Person]) -> str:
    """A panel with one histogram per quality figure (its threshold marked); empty without any."""
    fitted = [p for p in people if p.status == "ok"]
    names = quality_names(fitted)
    if not names:
        return ""
    parts = []
    for name in names:
        figures = [p.quality().get(name) for p in fitted]
        figures = [f for f in figures if isinstance(f, dict)]
        values = np.array([v for f in figures if (v := finite(f.get("value"))) is not None], dtype=float)
        threshold = next((t for f in figures if (t := finite(f.get("threshold"))) is not None), None)
        flagged = sum(bool(f.get("flag")) for f in figures)
        parts.append(histogram_svg(values, name.replace("_", " "), threshold=threshold, note=f"{flagged} flagged"))
    return (f'<section class="panel"><div class="panel-head"><h2>quality figures</h2><span class="muted">'
            f'{sum(bool(p.flags()) for p in fitted)} of {len(fitted)} fitted people flagged</span></div>'
            f'<div class="hist-grid">{"".join(parts)}</div></section>')


def person_chip(person: Person, color: tuple[int, int, int] | None) -> str:
    error = person.number("reprojection_error_px")
    text = f"{person.index:03d}" + (f" &middot; {error:.1f} px" if error is not None else f" &middot; {person.status}")
    swatch = f'<i class="swatch" style="background:rgb{color}"></i>' if color else ""
    flagged = " flagged" if person.flags() else ""
    return f'<button type="button" class="chip{flagged}" data-key="{escape(person.key)}">{swatch}{text}</button>'


def image_card(image: ImageEntry, page: int, colors: dict[str, tuple[int, int, int]]) -> str:
    size = image.record.get("image_size")
    dims = f' width="{int(size[1])}" height="{int(size[0])}"' if isinstance(size, list) and len(size) == 2 else ""
    if image.picture:
        label = "" if image.is_overlay else '<span class="corner">no overlay</span>'
        picture = (f'<a href="{escape(image.picture)}" target="_blank">'
                   f'<img loading="lazy" src="{escape(image.picture)}" alt="{escape(image.image_id)}"{dims}></a>{label}')
    else:
        picture = '<div class="nopicture">no picture</div>'
    chips = "".join(person_chip(p, colors.get(p.key)) for p in image.people)
    reason = image.record.get("reason")
    reason_html = f'<div class="reason">{escape(str(reason))}</div>' if reason else ""
    hidden = " hidden" if page else ""
    return (f'<figure class="card {escape(image.status)}" data-page="{page}" id="image-{escape(image.image_id)}"{hidden}>'
            f'<div class="picture">{picture}</div><figcaption><div class="name"><b>{escape(image.image_id)}</b>'
            f'<span class="badge {escape(image.status)}">{escape(image.status)}</span></div>'
            f'<div class="chips">{chips}</div>{reason_html}</figcaption></figure>')


def gallery(images: list[ImageEntry], colors: dict[str, tuple[int, int, int]]) -> str:
    cards = "".join(image_card(image, i // CARDS_PER_PAGE, colors) for i, image in enumerate(images))
    pages = max(1, -(-len(images) // CARDS_PER_PAGE))
    return (f'<nav class="pager" data-pages="{pages}" data-count="{len(images)}" '
            f'data-per-page="{CARDS_PER_PAGE}"></nav><div class="gallery">{cards}</div>')


def viewer_panel() -> str:
    return ('<div class="panel viewer"><div class="panel-head"><h2>3D view</h2><span id="viewer-title"></span>'
            '<button type="button" id="viewer-reset" title="back to the camera\'s view">reset</button></div>'
            '<canvas id="viewer" width="560" height="560" aria-label="3D view of the chosen fit"></canvas>'
            '<p class="hint">drag to rotate &middot; wheel to zoom &middot; double-click to reset &middot; '
            'click a row or a person to choose a fit</p><p id="viewer-status" data-state="idle"></p></div>'
            '<div class="panel chosen"><h2>overlay</h2><img id="viewer-picture" alt="">'
            '<dl id="viewer-figures"></dl></div>')


def render_page(title: str, images: list[ImageEntry], summary: dict, table_html: str,
                people: dict, config_text: str | None) -> str:
    """The whole page; ``people`` is :func:`people_data`."""
    all_people = [p for image in images for p in image.people]
    config = (f'<details class="config"><summary>config.yaml</summary><pre>{escape(config_text)}</pre></details>'
              if config_text else "")
    generated = time.strftime("%Y-%m-%d %H:%M")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>bodyfit report: {escape(title)}</title>
<style>{asset("report.css")}</style></head>
<body>
<header><h1>bodyfit report <span class="folder">{escape(title)}</span></h1>
<span class="muted">written {generated} &middot; rebuild with <code>bodyfit report {escape(title)}</code></span>
<span id="report-status" data-state="loading" data-errors="0"></span></header>
<main>
{summary_tiles(images, summary)}
<section class="top">{viewer_panel()}<div class="panel hists"><h2>distributions</h2>{main_histograms(all_people)}</div></section>
{quality_histograms(all_people)}
<section class="panel"><div class="panel-head"><h2>people</h2>
<input type="search" id="filter" placeholder="filter rows (image, status, flag...)" aria-label="filter rows">
<span id="row-count" class="muted"></span></div>
<p class="hint">click a column's header to sort by it, a row to see its fit in 3D</p>
<div class="table-wrap">{table_html}</div></section>
<section class="panel"><div class="panel-head"><h2>images</h2><span class="muted">meshes over each image</span></div>
{gallery(images, people_colors_of(people))}</section>
{config}
</main>
<script id="report-people" type="application/json">{script_json(people)}</script>
<script>{asset("viewer.js")}</script>
<script>{asset("report.js")}</script>
</body></html>
"""


def people_colors_of(people: dict) -> dict[str, tuple[int, int, int]]:
    return {key: tuple(p["color"]) for key, p in people.items() if p.get("color")}
