"""The SVG chart geometry: bars in proportion, a readable axis, nothing drawn for nothing."""

from __future__ import annotations

from portal.manage import charts


def test_bars_are_in_proportion_to_a_rounded_axis() -> None:
    chart = charts.bars([("a", 8), ("b", 4), ("c", 0)])
    assert chart.maximum == 10
    widths = [bar.width for bar in chart.bars]
    assert widths == [charts.BAR_AREA_WIDTH * 0.8, charts.BAR_AREA_WIDTH * 0.4, 0]
    assert chart.height == 3 * charts.BAR_ROW


def test_columns_stand_on_the_same_baseline() -> None:
    chart = charts.columns([("1", 1), ("2", 5), ("3", 2)])
    assert chart.maximum == 5
    baselines = {round(bar.y + bar.height, 2) for bar in chart.bars}
    assert len(baselines) == 1
    assert chart.bars[1].height == charts.COLUMN_AREA[3]


def test_an_empty_or_all_zero_series_is_empty() -> None:
    assert charts.bars([]).empty
    assert charts.columns([("a", 0), ("b", 0)]).empty
    assert not charts.columns([("a", 1)]).empty


def test_labels_thin_out_on_long_series() -> None:
    assert charts.columns([(str(i), i) for i in range(31)]).label_every == 3
    assert charts.columns([(str(i), i) for i in range(5)]).label_every == 1
