"""Histograms as inline SVG, made here so the page needs no plotting library."""
from __future__ import annotations

from html import escape

import numpy as np

WIDTH, HEIGHT = 380, 170
LEFT, RIGHT, TOP, BOTTOM = 34, 10, 22, 30


def nice_step(span: float, ticks: int = 5) -> float:
    """A 1-2-5 step that divides ``span`` into about ``ticks`` parts."""
    raw = max(span, 1e-12) / ticks
    power = 10 ** np.floor(np.log10(raw))
    return float(min((m * power for m in (1, 2, 5, 10) if m * power >= raw), default=10 * power))


def value_range(values: np.ndarray) -> tuple[float, float, int]:
    """The range to bin: from 0 (or the minimum when negative) to the maximum, cut at the
    99th percentile when a few outliers would squash the rest; and how many lie beyond."""
    low = min(0.0, float(values.min()))
    high = float(values.max())
    p99 = float(np.percentile(values, 99))
    if len(values) >= 20 and high - low > 3 * (p99 - low) > 0:
        high = p99
    return low, high if high > low else low + 1.0, int((values > high).sum())


def format_number(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"


def histogram_svg(values: np.ndarray, title: str, unit: str = "", threshold: float | None = None,
                  bins: int = 24, note: str = "") -> str:
    """An SVG histogram of the finite ``values`` (N,) with the median marked (and
    ``threshold``, when given, and inside the range); values beyond the plotted range are
    counted in its last bin. ``note`` (plain text) is added to the caption."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    head = f'<figure class="hist"><figcaption>{escape(title)}'
    if len(values) == 0:
        return head + '</figcaption><p class="muted">no values</p></figure>'
    low, high, beyond = value_range(values)
    counts, edges = np.histogram(values.clip(low, high), bins=bins, range=(low, high))
    median = float(np.median(values))
    notes = [f"median {format_number(median)}{unit}", f"n={len(values)}"]
    if threshold is not None:
        notes.append(f"threshold {format_number(threshold)}{unit}")
    if beyond:
        notes.append(f"{beyond} beyond {format_number(high)}{unit} in the last bin")
    caption = " \u00b7 ".join(notes + ([note] if note else []))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    x_of = lambda v: LEFT + (v - low) / (high - low) * plot_w  # noqa: E731
    top = max(int(counts.max()), 1)
    parts = [f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">']
    for count, a, b in zip(counts, edges[:-1], edges[1:]):
        h = count / top * plot_h
        parts.append(f'<rect class="bar" x="{x_of(a) + 0.5:.1f}" y="{TOP + plot_h - h:.1f}" '
                     f'width="{max(x_of(b) - x_of(a) - 1, 0.5):.1f}" height="{h:.1f}">'
                     f'<title>{format_number(a)}-{format_number(b)}{escape(unit)}: {count}</title></rect>')
    parts.append(f'<line class="axis" x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}"/>')
    step = nice_step(high - low)
    for tick in np.arange(np.ceil(low / step) * step, high + step * 1e-6, step):
        x = x_of(tick)
        parts.append(f'<line class="tick" x1="{x:.1f}" y1="{TOP + plot_h}" x2="{x:.1f}" y2="{TOP + plot_h + 4}"/>'
                     f'<text x="{x:.1f}" y="{HEIGHT - 12}" text-anchor="middle">{format_number(tick)}</text>')
    parts.append(f'<text x="{LEFT - 4}" y="{TOP + 4}" text-anchor="end">{top}</text>'
                 f'<text x="{LEFT - 4}" y="{TOP + plot_h}" text-anchor="end">0</text>'
                 f'<text x="{LEFT + plot_w}" y="{HEIGHT - 1}" text-anchor="end">{escape(unit.strip())}</text>')
    for value, css in ((median, "median"), (threshold, "threshold")):
        if value is not None and low <= value <= high:
            parts.append(f'<line class="{css}" x1="{x_of(value):.1f}" y1="{TOP - 6}" x2="{x_of(value):.1f}" '
                         f'y2="{TOP + plot_h}"><title>{css} {format_number(value)}{escape(unit)}</title></line>')
    parts.append("</svg>")
    return head + f'<span class="muted">{escape(caption)}</span></figcaption>' + "".join(parts) + "</figure>"
