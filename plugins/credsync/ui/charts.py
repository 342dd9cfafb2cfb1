"""Line charts as inline SVG (matplotlib, server side): no script, no CDN, readable offline.

Axes fit the data: the time axis spans the days that have data (at least one day either side of
a single point, never matplotlib's multi-year default for one date); a percentage axis is fixed at
0 to 100 %; durations pick the unit their largest value reads best in. Text stays text in the SVG
(``svg.fonttype: none``), so tick labels can be read and searched.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta

Series = Mapping[str, Sequence[tuple[date, float | None]]]

#: (unit label, seconds per unit, largest value in seconds still shown in this unit)
DURATION_UNITS = (("seconds", 1, 120), ("minutes", 60, 2 * 3600), ("hours", 3600, 72 * 3600),
                  ("days", 86400, float("inf")))


def duration_unit(seconds: Sequence[float]) -> tuple[str, float]:
    """The unit (name, seconds per unit) the largest of ``seconds`` reads best in."""
    largest = max((s for s in seconds if s is not None), default=0.0)
    for name, size, limit in DURATION_UNITS:
        if largest < limit:
            return name, size
    return DURATION_UNITS[-1][0], DURATION_UNITS[-1][1]


def line_chart(title: str, ylabel: str, series: Series, *, ylim: tuple[float, float] | None = None,
               percent: bool = False, element_id: str = "") -> str:
    """One SVG line chart; ``series`` maps a label to (day, value) points (None values are gaps).

    ``ylim`` fixes the value axis (e.g. 0 to 100 for a share); without it the axis runs from 0 to the
    largest value.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    points = {label: [(d, v) for d, v in values if v is not None] for label, values in series.items()}
    days = sorted({d for values in points.values() for d, _ in values})
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "credsync", "font.size": 9}):
        fig, ax = plt.subplots(figsize=(7.5, 2.8), dpi=96)
        try:
            for label, values in points.items():
                if values:
                    ax.plot([_noon(d) for d, _ in values], [v for _, v in values], marker="o", markersize=3,
                            linewidth=1.5, label=label)
            start, end = days[0], days[-1]
            if (end - start).days < 2:  # one or two days: show the day either side, not years
                start, end = start - timedelta(days=1), end + timedelta(days=1)
            ax.set_xlim(_midnight(start), _midnight(end + timedelta(days=1)))
            locator = mdates.AutoDateLocator(minticks=3, maxticks=8)
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
            low, high = ylim if ylim is not None else (0.0, max([v for vs in points.values() for _, v in vs] or [1.0]))
            high = high if high > low else low + 1.0
            # Ticks within the limits, a little room around them so a line at 0 % or 100 % stays visible.
            ax.set_yticks([t for t in MaxNLocator(6).tick_values(low, high) if low <= t <= high])
            pad = 0.03 * (high - low)
            ax.set_ylim(low - pad, high + pad)
            if percent:
                ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
            ax.set_title(title)
            ax.set_ylabel(ylabel)
            ax.grid(alpha=0.3)
            if len(points) > 1:
                ax.legend(loc="best", fontsize="small")
            fig.tight_layout()
            buffer = io.StringIO()
            fig.savefig(buffer, format="svg")
        finally:
            plt.close(fig)
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]  # inline: no XML declaration or DOCTYPE
    attributes = f' role="img" aria-label="{_attr(title)}"' + (f' id="{_attr(element_id)}"' if element_id else "")
    return re.sub(r"^<svg", "<svg" + attributes, svg, count=1)


def _noon(day: date) -> datetime:
    return datetime.combine(day, time(12), tzinfo=UTC)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
