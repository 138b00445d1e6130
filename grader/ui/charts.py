"""Altair charts for the app (confusion heatmaps, per-level bars). Axis and tooltip titles are
passed in, so the pages give them in the interface language."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd


def heatmap(matrix: list[list[int]], rows: str, cols: str, count: str = "n") -> alt.Chart:
    """Counts as a heatmap with the numbers written in the cells; rows/cols/count are the titles."""
    data = pd.DataFrame(
        [{"row": f"LV.{i}", "col": f"LV.{j}", "n": int(v)} for i, line in enumerate(matrix) for j, v in enumerate(line)]
    )
    base = alt.Chart(data).encode(x=alt.X("col:O", title=cols), y=alt.Y("row:O", title=rows))
    cells = base.mark_rect().encode(color=alt.Color("n:Q", scale=alt.Scale(scheme="blues"), legend=None),
                                    tooltip=[alt.Tooltip("row:O", title=rows), alt.Tooltip("col:O", title=cols),
                                             alt.Tooltip("n:Q", title=count)])
    dark = max(1, int(data["n"].max())) / 2  # white numbers on the darker half of the scale, black on the lighter
    text = base.mark_text(fontSize=13).encode(
        text="n:Q", color=alt.condition(alt.datum.n > dark, alt.value("white"), alt.value("black"))
    )
    return (cells + text).properties(height=280)


def per_level_bars(per_level: dict[str, Any], titles: dict[str, str] | None = None) -> alt.Chart:
    """Recall per gold level (with precision and the number of gold items as tooltip); `titles`
    maps the fields level, recall, precision and n to their axis/tooltip titles."""
    title = lambda field: (titles or {}).get(field, field)  # noqa: E731
    rows = []
    for level, v in sorted(per_level.items(), key=lambda kv: int(kv[0])):
        v = v or {}
        rows.append({"level": f"LV.{level}", "recall": v.get("recall"), "precision": v.get("precision"), "n": v.get("n", 0)})
    data = pd.DataFrame(rows)
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(x=alt.X("level:O", title=title("level")),
                y=alt.Y("recall:Q", scale=alt.Scale(domain=[0, 1]), title=title("recall")),
                tooltip=[alt.Tooltip(f"{f}:{t}", title=title(f), **({"format": ".3f"} if f in ("recall", "precision") else {}))
                         for f, t in (("level", "O"), ("recall", "Q"), ("precision", "Q"), ("n", "Q"))])
        .properties(height=240)
    )
