"""Geometry for the dashboard's server-rendered SVG charts (no JavaScript, no chart library).

The templates (`manage/_charts.html`) draw what this computes: positions and sizes in the SVG's
own coordinate space, so the chart scales with the page. Sizes go in SVG attributes, never in
`style`, which the Content-Security-Policy forbids inline. Every chart sits beside a table with
the same numbers (the accessible and printable form).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    text: str  # the value as shown
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    width: int
    height: int
    maximum: float
    label_every: int = 1  # column charts: a label under every nth column

    @property
    def empty(self) -> bool:
        return not self.bars or self.maximum == 0


def _nice_maximum(value: float) -> float:
    """Round the axis up to 1, 2 or 5 × a power of ten, so the scale reads at a glance."""
    if value <= 0:
        return 0
    magnitude = 1.0
    while magnitude * 10 <= value:
        magnitude *= 10
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


COLUMN_AREA = (40, 8, 712, 150)  # left, top, width, height of the plotting area in a 760 × 190 box


def columns(series: Sequence[tuple[str, float]], texts: Sequence[str] | None = None) -> Chart:
    """A column per point of a time series (intake per day or week)."""
    left, top, area_width, area_height = COLUMN_AREA
    maximum = _nice_maximum(max((v for _l, v in series), default=0))
    slot = area_width / max(len(series), 1)
    gap = min(4.0, slot * 0.2)
    bars = []
    for index, (label, value) in enumerate(series):
        height = area_height * value / maximum if maximum else 0
        bars.append(
            Bar(
                label=label,
                value=value,
                text=texts[index] if texts else f"{value:g}",
                x=round(left + index * slot + gap / 2, 2),
                y=round(top + area_height - height, 2),
                width=round(max(slot - gap, 1), 2),
                height=round(height, 2),
            )
        )
    return Chart(bars=bars, width=760, height=190, maximum=maximum, label_every=max(1, len(series) // 8))


BAR_LABEL_WIDTH = 200
BAR_AREA_WIDTH = 250
BAR_ROW = 26


def bars(items: Sequence[tuple[str, float]], texts: Sequence[str] | None = None) -> Chart:
    """A horizontal bar per item (categories, channels, causes), largest scale first."""
    maximum = _nice_maximum(max((v for _l, v in items), default=0))
    result = []
    for index, (label, value) in enumerate(items):
        width = BAR_AREA_WIDTH * value / maximum if maximum else 0
        result.append(
            Bar(
                label=label,
                value=value,
                text=texts[index] if texts else f"{value:g}",
                x=BAR_LABEL_WIDTH,
                y=index * BAR_ROW + 4,
                width=round(width, 2),
                height=BAR_ROW - 8,
            )
        )
    return Chart(
        bars=result,
        width=BAR_LABEL_WIDTH + BAR_AREA_WIDTH + 60,
        height=max(len(items), 1) * BAR_ROW,
        maximum=maximum,
    )
