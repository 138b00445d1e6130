"""Altair charts for the app (confusion heatmaps, per-level bars)."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd


def heatmap(matrix: list[list[int]], rows: str, cols: str) -> alt.Chart:
    """Counts as a heatmap with the numbers written in the cells; rows/cols are axis titles."""
    data = pd.DataFrame(
        [{rows: f"LV.{i}", cols: f"LV.{j}", "n": int(v)} for i, line in enumerate(matrix) for j, v in enumerate(line)]
    )
    base = alt.Chart(data).encode(x=alt.X(f"{cols}:O", title=cols), y=alt.Y(f"{rows}:O", title=rows))
    cells = base.mark_rect().encode(color=alt.Color("n:Q", scale=alt.Scale(scheme="blues"), legend=None),
                                    tooltip=[rows, cols, "n"])
    return (cells + base.mark_text(fontSize=13).encode(text="n:Q")).properties(height=280)


def per_level_bars(per_level: dict[str, Any]) -> alt.Chart:
    """Recall per gold level (with the number of gold items as tooltip)."""
    rows = []
    for level, v in sorted(per_level.items(), key=lambda kv: int(kv[0])):
        v = v or {}
        rows.append({"level": f"LV.{level}", "recall": v.get("recall"), "precision": v.get("precision"), "n": v.get("n", 0)})
    data = pd.DataFrame(rows)
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(x=alt.X("level:O"), y=alt.Y("recall:Q", scale=alt.Scale(domain=[0, 1])), tooltip=["level", "recall", "precision", "n"])
        .properties(height=240)
    )
