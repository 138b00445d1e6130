"""Pure HTML/Markdown builders of the app (grader/ui/render.py) and the interface strings."""

from __future__ import annotations

import re

from app_fakes import make_grade, rubric_dict
from grader.types import Evidence, IndicatorJudgment, Rubric
from grader.ui.i18n import STRINGS, t
from grader.render import when
from grader.ui.render import evidence_spans, highlight_html, indicator_rows, ladder_html, md_escape


def test_highlight_escapes_every_piece_and_marks_spans() -> None:
    story = "<b>Hi</b> & I asked the customer. **Then** <script>x()</script>"
    start = story.index("I asked")
    end = story.index(".") + 1
    out = highlight_html(story, [(start, end, "met", ["co.L2.2"])])
    assert '<mark class="evidence evidence-met" title="co.L2.2"' in out
    assert ">I asked the customer.</mark>" in out
    assert "&lt;b&gt;Hi&lt;/b&gt; &amp; " in out and "&lt;script&gt;x()&lt;/script&gt;" in out
    assert "<script>" not in out and "<b>" not in out
    assert "**Then**" in out  # st.html does not read Markdown: shown as typed


def test_highlight_ignores_bad_offsets_and_escapes_titles() -> None:
    story = "short story"
    out = highlight_html(story, [(0, 5, "met", ['"><img src=x>']), (3, 8, "met", ["x"]), (4, 999, "partial", ["y"])])
    assert out.count("<mark") == 1 and "&quot;&gt;&lt;img src=x&gt;" in out
    assert re.sub(r"<[^>]+>", "", out) == "short story"


def test_evidence_spans_merge_overlaps_and_apply_corrections() -> None:
    story = "Alpha beta gamma. Delta epsilon."
    g = make_grade(story, 1)
    g.indicators = [
        IndicatorJudgment(id="co.L1.1", status="partial", evidence=[Evidence(quote="Alpha beta", start=0, end=10)]),
        IndicatorJudgment(id="co.L2.1", status="met", evidence=[Evidence(quote="beta gamma.", start=6, end=17)]),
        IndicatorJudgment(id="co.L3.1", status="not_met", evidence=[Evidence(quote="Delta", start=18, end=23)]),
    ]
    assert evidence_spans(g) == [(0, 17, "met", ["co.L1.1", "co.L2.1"])]
    spans = evidence_spans(g, {"co.L2.1": "no_evidence", "co.L3.1": "partial"})
    assert spans == [(0, 10, "partial", ["co.L1.1"]), (18, 23, "partial", ["co.L3.1"])]


def test_ladder_highlights_exactly_one_step() -> None:
    rubric = Rubric.model_validate(rubric_dict())
    out = ladder_html(rubric, 4, "ko")
    assert out.count('class="ladder-step"') == 6 and out.count("aria-current") == 1
    assert 'data-level="4" aria-current="step"' in out and "옹호" in out
    assert "aria-current" not in ladder_html(rubric, None, "en")


def test_md_escape_neutralises_markdown() -> None:
    assert md_escape("**bold** [x](javascript:y) $x$ <b>\nline") == (
        r"\*\*bold\*\* \[x\]\(javascript\:y\) \$x\$ \<b\> line"
    )


def test_indicator_rows_use_rubric_text_and_order() -> None:
    rubric = Rubric.model_validate(rubric_dict())
    rows = indicator_rows(make_grade("I asked a customer.", 1), rubric, "en")
    assert [r["indicator"] for r in rows[:2]] == ["co.L1.1", "co.L0.1"] and rows[0]["criterion"] == "Level 1 indicator <b>one</b>"
    assert rows[0]["evidence"] == "“I asked a customer.”"


def test_every_interface_string_has_both_languages_and_same_fields() -> None:
    for key, entry in STRINGS.items():
        assert set(entry) == {"en", "ko"}, key
        fields = lambda s: sorted(re.findall(r"{(\w+)", s))  # noqa: E731
        assert fields(entry["en"]) == fields(entry["ko"]), key
    assert t("grade.counter", "ko", n=1200, limit=20000) == "1,200 / 20,000자"
    assert t("no.such.key", "ko") == "no.such.key"
    assert t("nav.rubric", "ko") == t("rubric.title", "ko") == "루브릭과 자료"  # the menu and the page title agree


def test_the_background_warm_up_imports_what_a_first_grading_needs_first() -> None:
    """A first click competes with the warm-up thread for the CPU (bench/app_latency.py: 3.7 s
    with pandas and altair first, 1.6-2.3 s with the engine first): the engine and the result's
    tables come before the chart library, and every name is importable."""
    import importlib.util

    from grader.ui.shell import WARM_MODULES

    assert all(importlib.util.find_spec(m) is not None for m in WARM_MODULES)
    order = {m: k for k, m in enumerate(WARM_MODULES)}
    assert order["grader.engines.local"] < order["pandas"] < order["altair"]
    assert order["grader.index"] < order["altair"]


def test_times_are_shown_to_the_minute_in_utc() -> None:
    assert when("2026-11-27T18:44:23+00:00") == "2026-11-27 18:44 UTC"
    assert when("2026-11-28T03:44:23+09:00") == "2026-11-27 18:44 UTC"
    assert when("2026-11-27T18:44:23") == "2026-11-27 18:44" and when("not a time") == "not a time" and when(None) == ""


def test_heatmap_numbers_are_white_on_dark_cells() -> None:
    from grader.ui.charts import heatmap

    spec = heatmap([[8, 0], [1, 2]], "gold", "predicted").to_dict()
    text = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "text")
    color = text["encoding"]["color"]
    assert color["condition"]["value"] == "white" and color["value"] == "black" and "4.0" in color["condition"]["test"]


def test_a_cited_passage_is_shown_on_one_line_without_markup() -> None:
    from grader.render import one_line

    chunk = "실행으로 익히기\n**출처 / Source**\n\n## 요약\n글은   실행을\n강조한다."
    assert one_line(chunk, heading="notes § 실행으로 익히기 (chunk 10)") == "출처 / Source 요약 글은 실행을 강조한다."
    assert one_line(chunk) == "실행으로 익히기 출처 / Source 요약 글은 실행을 강조한다."  # no heading given: kept
    assert one_line("one two three four", 9) == "one two…"  # cut at a word
    assert one_line("x" * 20, 5) == "xxxxx…"
    assert one_line("C# and #hashtags stay") == "C# and #hashtags stay"



def test_per_level_tooltips_show_three_decimals() -> None:
    from grader.ui.charts import per_level_bars

    spec = per_level_bars({"1": {"recall": 2 / 3, "precision": 0.5, "n": 3}}).to_dict()
    formats = {t["field"]: t.get("format") for t in spec["encoding"]["tooltip"]}
    assert formats == {"level": None, "recall": ".3f", "precision": ".3f", "n": None}  # not 0.6666666666666666


def test_index_locations_are_shown_in_the_interface_language() -> None:
    """The index stores where an entry is in English ("…, principles", "… (chunk 3)")."""
    from streamlit.testing.v1 import AppTest

    def script() -> None:
        import streamlit as st

        from grader.ui.common import where

        for location in ("customer-obsession v1, principles", "notes § 실행으로 익히기 (chunk 10)",
                         "customer-obsession v1, LV.3", "a (chunk x)", "my principles"):
            st.text(where(location))

    at = AppTest.from_function(script)
    at.session_state["ui_lang"] = "ko"
    at.run()
    assert [x.value for x in at.text] == ["customer-obsession v1, 원칙", "notes § 실행으로 익히기 (10번째 부분)",
                                          "customer-obsession v1, LV.3", "a (chunk x)", "my principles"]
    at.session_state["ui_lang"] = "en"
    at.run()
    assert [x.value for x in at.text][:2] == ["customer-obsession v1, principles", "notes § 실행으로 익히기 (chunk 10)"]
