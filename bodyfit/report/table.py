"""The per-person table: one row per person entry of every image record, each cell with
the value it sorts by (``data-v``), so the page sorts by any column without parsing text."""
from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Callable

from bodyfit.report.collect import ImageEntry, Person, extra_numbers, finite, quality_names

# (sort value, cell HTML, CSS classes, tooltip)
Cell = tuple[str, str, str, str]


@dataclass(frozen=True)
class Column:
    """A table column: its header, whether it sorts as numbers, and how a person's cell reads."""

    title: str
    numeric: bool
    cell: Callable[[Person], Cell]
    tip: str = ""


def number_cell(value: float | None, digits: str = ".3g", classes: str = "", tip: str = "") -> Cell:
    if value is None:
        return "", '<span class="muted">&ndash;</span>', f"num {classes}", tip
    return repr(value), format(value, digits), f"num {classes}", tip


def text_cell(text: str) -> Cell:
    return escape(text), escape(text), "", ""


def status_cell(person: Person) -> Cell:
    status = person.status
    return escape(status), f'<span class="badge {escape(status)}">{escape(status)}</span>', "", ""


def person_cell(person: Person, color: tuple[int, int, int] | None) -> Cell:
    swatch = f'<i class="swatch" style="background:rgb{color}"></i>' if color else '<i class="swatch none"></i>'
    return str(person.index), f"{swatch}{person.index:03d}", "", ""


def quality_cell(person: Person, name: str) -> Cell:
    figure = person.quality().get(name)
    if not isinstance(figure, dict):
        return number_cell(None)
    value, threshold = finite(figure.get("value")), finite(figure.get("threshold"))
    tip = f"threshold {threshold:.3g}" if threshold is not None else ""
    return number_cell(value, ".3g", "flagged" if figure.get("flag") else "", tip)


def flags_cell(person: Person) -> Cell:
    flags = person.flags()
    chips = "".join(f'<span class="flag">{escape(f)}</span>' for f in flags)
    return escape(" ".join(flags)), chips, "", ""


def reason_cell(person: Person) -> Cell:
    reason = str(person.entry.get("reason") or "")
    return escape(reason), f'<span class="reason">{escape(reason)}</span>', "", ""


def gender_cell(person: Person) -> Cell:
    """The classifier's probability of the gender it leant to (``--gender auto``), the
    reason as the tip; empty when a rule kept the person neutral."""
    choice = person.entry.get("gender_choice") or {}
    p_female, p_male = choice.get("p_female"), choice.get("p_male")
    value = None if p_female is None else max(p_female, p_male)
    return number_cell(value, ".2f", tip=choice.get("reason", ""))


def columns_for(people: list[Person], colors: dict[str, tuple[int, int, int]]) -> list[Column]:
    """The table's columns: fixed ones, ``track_id``/``frame_index`` when any entry has them,
    then every quality figure and other number that appears."""
    columns = [Column("image", False, lambda p: text_cell(p.image_id)),
               Column("person", True, lambda p: person_cell(p, colors.get(p.key)))]
    for name in ("track_id", "frame_index"):
        if any(name in p.entry for p in people):
            columns.append(Column(name.replace("_", " "), True, lambda p, n=name: number_cell(p.number(n), "g")))
    columns += [
        Column("status", False, status_cell),
        Column("2D error px", True, lambda p: number_cell(p.number("reprojection_error_px"), ".2f"),
               "median reprojection error over the confident body keypoints"),
        Column("loss", True, lambda p: number_cell(p.number("loss"), ".4g")),
        Column("time s", True, lambda p: number_cell(p.number("time_s"), ".2f"), "the batch's time, shared by its people"),
        Column("model", False, lambda p: text_cell(" ".join(str(p.entry.get(k, "")) for k in ("model_type", "gender")).strip())),
        Column("turned", False, lambda p: text_cell("yes" if p.entry.get("turned") else ""),
               "the 180-degree fit won"),
    ]
    columns += [Column(name.replace("_", " "), True, lambda p, n=name: quality_cell(p, n), f"quality: {name}")
                for name in quality_names(people)]
    columns += [Column(name.replace("_", " "), True, lambda p, n=name: number_cell(p.number(n), ".4g"))
                for name in extra_numbers(people)]
    if any("gender_choice" in p.entry for p in people):
        columns.append(Column("gender p", True, gender_cell, "--gender auto: the classifier's probability of the "
                              "gender it leant to (empty: a rule kept the person neutral; see the reason)"))
    if any(p.flags() for p in people):
        columns.append(Column("flags", False, flags_cell))
    columns.append(Column("reason", False, reason_cell))
    return columns


def person_colors(images: list[ImageEntry], palette: tuple[tuple[int, int, int], ...]) -> dict[str, tuple[int, int, int]]:
    """The overlay's colour of each fitted person: the palette in order of the image's fitted people."""
    colors = {}
    for image in images:
        fitted = sorted((p for p in image.people if p.status == "ok"), key=lambda p: p.index)
        colors.update((p.key, palette[i % len(palette)]) for i, p in enumerate(fitted))
    return colors


def table_cell(value: str, text: str, classes: str, tip: str) -> str:
    css = f' class="{classes.strip()}"' if classes.strip() else ""
    title = f' title="{escape(tip)}"' if tip else ""
    return f'<td data-v="{value}"{css}{title}>{text}</td>'


def header_cell(column: Column) -> str:
    tip = f' title="{escape(column.tip)}"' if column.tip else ""
    return f'<th data-type="{"num" if column.numeric else "text"}"{tip}>{escape(column.title)}</th>'


def people_table(people: list[Person], columns: list[Column], meshes: dict[str, str]) -> str:
    """The ``<table>``; a row with a 3D view carries its person's key."""
    head = "".join(header_cell(c) for c in columns)
    rows = []
    for person in people:
        cells = "".join(table_cell(*c.cell(person)) for c in columns)
        viewable = " viewable" if person.key in meshes else ""
        rows.append(f'<tr class="{escape(person.status)}{viewable}" data-key="{escape(person.key)}">{cells}</tr>')
    return (f'<table id="people" class="people"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')
