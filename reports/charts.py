"""Charts drawn on the server as SVG, inlined in the page.

Why SVG from the server rather than a charting library in the browser: the page works without
JavaScript and under the portal's Content-Security-Policy with nothing to allow, htmx swaps a section
and its chart together with nothing to re-initialise, print gets vector graphics, and there is no
third-party script to pin, audit and update. The numbers are in a table under each chart anyway, so
the chart needs no tooltips.

Readable without colour alone: series differ by dash pattern and marker shape as well as colour, the
legend shows both, and bars carry their value as text. Colours come from classes in portal.css
(``series-0`` …); no inline style is written (the CSP refuses those).
"""

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH = 760
_DASHES = ("", "7 4", "2 3", "10 3 2 3")
_MARKERS = ("circle", "square", "triangle", "diamond")


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float]


def _nice_max(value: float) -> float:
    """A round top for the axis, at or above ``value``."""
    if value <= 0:
        return 1
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _marker(kind: str, x: float, y: float, css: str) -> str:
    if kind == "circle":
        return f'<circle class="{css}" cx="{x:.1f}" cy="{y:.1f}" r="3.5"/>'
    if kind == "square":
        return f'<rect class="{css}" x="{x - 3.5:.1f}" y="{y - 3.5:.1f}" width="7" height="7"/>'
    if kind == "triangle":
        corners = [(x, y - 4.5), (x + 4, y + 3), (x - 4, y + 3)]
    else:
        corners = [(x, y - 4.5), (x + 4.5, y), (x, y + 4.5), (x - 4.5, y)]
    points = " ".join(f"{px:.1f},{py:.1f}" for px, py in corners)
    return f'<polygon class="{css}" points="{points}"/>'


def _legend(series: Sequence[Series], y: float) -> list[str]:
    parts, x = [], 56.0
    for index, one in enumerate(series):
        css = f"series series-{index}"
        dash = f' stroke-dasharray="{_DASHES[index % 4]}"' if _DASHES[index % 4] else ""
        parts.append(f'<line class="{css}" x1="{x}" y1="{y}" x2="{x + 26}" y2="{y}"{dash}/>')
        parts.append(_marker(_MARKERS[index % 4], x + 13, y, f"marker {css}"))
        parts.append(f'<text class="legend" x="{x + 32}" y="{y + 4}">{escape(one.name)}</text>')
        x += 46 + 7.5 * len(one.name)
    return parts


def line_chart(title: str, labels: Sequence[str], series: Sequence[Series], *, unit: str = "") -> SafeString:
    """Values over time: one line per series, the periods along the bottom."""
    height, left, right, top, bottom = 260, 56, 16, 34, 30
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    top_value = _nice_max(max((v for s in series for v in s.values), default=0))
    count = max(len(labels), 1)
    step = plot_w / max(count - 1, 1)

    def x_of(i: int) -> float:
        return left + (i * step if count > 1 else plot_w / 2)

    def y_of(v: float) -> float:
        return top + plot_h - (v / top_value) * plot_h

    parts = [f"<title>{escape(title)}</title>"]
    for tick in range(5):
        value = top_value * tick / 4
        y = y_of(value)
        parts.append(f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{WIDTH - right}" y2="{y:.1f}"/>')
        tick_label = f"{_number(value)}{unit}"
        parts.append(
            f'<text class="axis" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{tick_label}</text>'
        )
    every = max(1, -(-count // 8))  # at most about eight labels along the bottom
    for i, label in enumerate(labels):
        if i % every == 0:
            x, y = x_of(i), height - 10
            # A label at either edge is anchored there, so that it is not cut off by the frame.
            anchor = "end" if x > WIDTH - right - 40 else "start" if x < left + 40 else "middle"
            parts.append(
                f'<text class="axis" x="{x:.1f}" y="{y}" text-anchor="{anchor}">{escape(label)}</text>'
            )
    for index, one in enumerate(series):
        css = f"series series-{index}"
        points = " ".join(f"{x_of(i):.1f},{y_of(v):.1f}" for i, v in enumerate(one.values))
        dash = f' stroke-dasharray="{_DASHES[index % 4]}"' if _DASHES[index % 4] else ""
        parts.append(f'<polyline class="{css}" points="{points}"{dash}/>')
        if count <= 62:
            parts.extend(
                _marker(_MARKERS[index % 4], x_of(i), y_of(v), f"marker {css}")
                for i, v in enumerate(one.values)
            )
    parts.extend(_legend(series, 14))
    return _svg(title, height, parts)


def bar_chart(title: str, labels: Sequence[str], values: Sequence[float], *, unit: str = "") -> SafeString:
    """One value per category, as horizontal bars with the value written at the end of each."""
    row, left, top = 24, 210, 8
    height = top * 2 + row * max(len(labels), 1)
    top_value = _nice_max(max(values, default=0))
    plot_w = WIDTH - left - 90
    parts = [f"<title>{escape(title)}</title>"]
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = top + i * row
        width = max(0.0, value / top_value * plot_w)
        short = label if len(label) <= 30 else label[:29] + "…"
        parts.append(
            f'<text class="axis" x="{left - 8}" y="{y + 16}" text-anchor="end">{escape(short)}</text>'
        )
        parts.append(
            f'<rect class="bar series-0" x="{left}" y="{y + 4}" width="{width:.1f}" height="{row - 8}"/>'
        )
        parts.append(
            f'<text class="value" x="{left + width + 6:.1f}" y="{y + 16}">{_number(value)}{unit}</text>'
        )
    return _svg(title, height, parts)


def _svg(title: str, height: int, parts: list[str]) -> SafeString:
    body = "".join(parts)
    return mark_safe(  # noqa: S308 - every text in it went through escape()
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(title)}"'
        f' preserveAspectRatio="xMinYMin meet">{body}</svg>'
    )
