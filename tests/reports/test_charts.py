"""The report's SVG charts: readable without colour, safe to inline, and allowed by the CSP."""

import re

from reports.charts import Series, bar_chart, line_chart


def test_line_series_differ_by_dash_and_marker_shape_not_colour_alone():
    chart = line_chart(
        "Claims",
        ["01 Mar", "02 Mar", "03 Mar"],
        [Series("Claimed", [3, 5, 2]), Series("Unclaimed", [1, 0, 4]), Series("Failed", [0, 1, 0])],
    )

    lines = re.findall(
        r'<polyline class="series series-(\d)" points="[^"]*"( stroke-dasharray="[^"]*")?', chart
    )
    assert [(index, dash) for index, dash in lines] == [
        ("0", ""),
        ("1", ' stroke-dasharray="7 4"'),
        ("2", ' stroke-dasharray="2 3"'),
    ]
    # Each series' points carry a marker of its own shape: circles, squares, triangles.
    assert len(re.findall(r'<circle class="marker series series-0"', chart)) == 3 + 1  # + the legend's
    assert len(re.findall(r'<rect class="marker series series-1"', chart)) == 3 + 1
    assert len(re.findall(r'<polygon class="marker series series-2"', chart)) == 3 + 1
    legend = re.findall(r'<text class="legend"[^>]*>([^<]*)</text>', chart)
    assert legend == ["Claimed", "Unclaimed", "Failed"]


def test_bars_carry_their_value_as_text():
    chart = bar_chart("By customer", ["Acme", "Globex"], [1200, 35])

    assert re.findall(r'<text class="value"[^>]*>([^<]*)</text>', chart) == ["1,200", "35"]
    assert chart.count('class="bar series-0"') == 2


def test_names_are_escaped_and_no_inline_style_is_written():
    chart = bar_chart('<script>alert("x")</script>', ['=HYPERLINK("a")<b>'], [1])

    assert "<script>" not in chart and "<b>" not in chart
    assert "&lt;script&gt;" in chart and "&lt;b&gt;" in chart
    assert "style=" not in chart  # the Content-Security-Policy refuses inline styles
    assert 'role="img"' in chart and "<title>" in chart  # named for screen readers


def test_a_chart_of_nothing_still_draws_an_axis():
    chart = line_chart("Empty", ["01 Mar"], [Series("Claimed", [0])])

    assert "<polyline" in chart and "NaN" not in chart


def test_the_labels_at_the_edges_are_anchored_inside_the_frame():
    """The last date along the bottom was centred on the right edge and cut in half."""
    chart = line_chart("Claims", ["2026-12-01", "2026-12-02", "2026-12-03"], [Series("Claimed", [1, 2, 3])])

    anchors = re.findall(r'<text class="axis" x="[^"]*" y="250" text-anchor="(\w+)">', chart)
    assert anchors == ["start", "middle", "end"]
