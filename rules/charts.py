"""PNG charts that go with findings as evidence (matplotlib, Agg canvas: no display needed).

The figures are drawn on a `matplotlib.figure.Figure` with its own Agg canvas rather than
through `pyplot`, so no global backend or figure registry is touched: safe inside a Prefect
worker and in threads. `quality_chart_png` returns the bytes, for a flow that publishes them
as an artifact; `write_quality_chart` writes them next to the warehouse for a finding.
"""
from __future__ import annotations

import io
from datetime import date
from pathlib import Path
from typing import Sequence


MEMBERSHIP_COLOUR = "#4c72b0"
QUALITY_COLOUR = "#c44e52"


def quality_chart_png(
    weeks: Sequence[date], membership: Sequence[float | None], quality: Sequence[float | None],
    *, title: str, membership_label: str = "members",
    baseline: tuple[date, date] | None = None, recent: tuple[date, date] | None = None,
) -> bytes:
    """Membership (left axis) and quality index (right axis) per week, as PNG bytes.

    `baseline` and `recent` are (first week, last week) spans shaded behind the lines, so a
    reader sees which weeks were compared.
    """
    # Imported here: matplotlib costs ~0.4 s to import, and most detect runs draw no chart.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4), dpi=100)
    FigureCanvasAgg(fig)
    members_ax = fig.add_subplot()
    quality_ax = members_ax.twinx()
    x = list(weeks)
    members_ax.plot(x, _nan(membership), color=MEMBERSHIP_COLOUR, marker="o", markersize=3,
                    label=membership_label)
    quality_ax.plot(x, _nan(quality), color=QUALITY_COLOUR, marker="s", markersize=3,
                    label="quality index")
    quality_ax.set_ylim(0, 100)
    members_ax.set_ylabel(membership_label, color=MEMBERSHIP_COLOUR)
    quality_ax.set_ylabel("quality index (0-100)", color=QUALITY_COLOUR)
    members_ax.set_xlabel("week (ISO, starting Monday)")
    for span, colour, label in ((baseline, "#999999", "baseline"), (recent, QUALITY_COLOUR, "recent")):
        if span:
            members_ax.axvspan(span[0], span[1], color=colour, alpha=0.12, label=label)
    handles = members_ax.get_legend_handles_labels()[0] + quality_ax.get_legend_handles_labels()[0]
    members_ax.legend(handles=handles, loc="upper left", fontsize="small")
    members_ax.set_title(title)
    fig.autofmt_xdate()
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


def write_quality_chart(path: Path, **chart) -> Path:
    """Write `quality_chart_png(**chart)` to `path` (its folder created), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".png.partial")
    partial.write_bytes(quality_chart_png(**chart))
    partial.replace(path)
    return path


def _nan(values: Sequence[float | None]) -> list[float]:
    return [float("nan") if v is None else float(v) for v in values]
