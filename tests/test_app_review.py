"""Review page (AppTest): passcode gate, queue filters, coach override, blind mode, agreement, export."""

from __future__ import annotations

import json
import re

import pytest
from streamlit.testing.v1 import AppTest

from app_fakes import app_env, column_labels, html_of, make_grade, texts_of  # noqa: F401 - fixture
from grader import metrics
from grader.ui import review_page
from grader.ui.review_page import passcode_ok

EN = "Our customers kept failing at export. I interviewed five customers about it."
KO = "고객 불만이 반복되어 고객 다섯 명을 인터뷰했다. 매주 고객 데이터를 본다."


def review_script() -> None:
    from grader.ui.review_page import render

    render()


def _page(locale: str = "en-US") -> AppTest:
    at = AppTest.from_function(review_script, default_timeout=30)
    at.context = {"locale": locale}  # the interface language follows the browser on a first visit
    return at.run()


@pytest.fixture()
def seeded(app_env):
    s = app_env.store
    a = s.save(EN, make_grade(EN, 2, confidence=0.35), author="Mina")
    b = s.save(KO, make_grade(KO, 4, confidence=0.9, language="ko", engine="llm"), author="")
    s.save("Private customer story.", make_grade("Private customer story.", 1), shared=False)
    app_env.a, app_env.b = a.grade_id, b.grade_id
    return app_env


def test_passcode_ok_is_exact() -> None:
    assert passcode_ok("s3cret", "s3cret")
    assert not passcode_ok("s3cre", "s3cret") and not passcode_ok("", "s3cret") and not passcode_ok("S3CRET", "s3cret")
    assert passcode_ok("비밀번호", "비밀번호")


def test_open_mode_banner_and_queue(seeded) -> None:
    at = _page()
    assert not at.exception
    assert any("Open single-user mode" in i.value for i in at.info)
    queue = at.dataframe[0].value
    assert list(queue["#"]) == [seeded.b, seeded.a]  # shared only, newest first
    assert list(queue["level"]) == ["LV.4", "LV.2"] and list(queue["confidence"]) == ["0.90", "0.35"]


def test_the_queue_names_the_two_levels_of_a_split_grade(seeded) -> None:
    """A grade whose level distribution has two far-apart peaks (README "Split grades") is marked
    in the queue, so a coach can find the gradings most worth a look; others are not."""
    story = "I moved a small client to a three-year prepaid plan. I hit my quota."
    split = make_grade(story, 4, confidence=0.6).model_copy(update={"distribution": [0.3, 0.02, 0.03, 0.03, 0.6, 0.02]})
    c = seeded.store.save(story, split, author="Jun").grade_id
    at = _page()
    assert not at.exception
    queue = at.dataframe[0].value
    assert list(queue["#"]) == [c, seeded.b, seeded.a]
    assert list(queue["split"]) == ["LV.0 / LV.4", "", ""]
    assert column_labels(at.dataframe[0])["split"] == "torn between"
    assert column_labels(_page("ko-KR").dataframe[0])["split"] == "갈린 레벨"


def test_a_grading_without_level_shows_no_level_and_no_confidence(seeded) -> None:
    story = "Kimchi stew: fry the pork, add kimchi and simmer."
    c = seeded.store.save(story, make_grade(story, None, confidence=0.3), author="Jun")
    queue = _page().dataframe[0].value
    row = queue[queue["#"] == c.grade_id].iloc[0]
    assert row["level"] == "–" and row["confidence"] == "–" and row["coach"] == "–"


def test_passcode_gate(seeded, monkeypatch) -> None:
    monkeypatch.setenv("GRADER_COACH_PASSCODE", "s3cret")
    at = _page()
    assert not at.dataframe and not any("Open single-user" in i.value for i in at.info)
    at.text_input(key="coach_passcode").input("wrong").run()
    assert any("Wrong passcode" in e.value for e in at.error) and not at.dataframe
    at.text_input(key="coach_passcode").input("s3cret").run()
    assert not at.exception
    assert len(at.dataframe[0].value) == 2
    at.run()
    assert len(at.dataframe[0].value) == 2  # stays signed in for the session


def test_filters(seeded) -> None:
    at = _page()
    at.multiselect(key="rf_levels").set_value([2]).run()
    assert list(at.dataframe[0].value["#"]) == [seeded.a]
    at.multiselect(key="rf_levels").set_value([]).run()
    at.checkbox(key="rf_low").check().run()
    assert list(at.dataframe[0].value["#"]) == [seeded.a]
    at.checkbox(key="rf_low").uncheck().run()
    at.multiselect(key="rf_engines").set_value(["llm"]).run()
    assert list(at.dataframe[0].value["#"]) == [seeded.b]
    at.multiselect(key="rf_engines").set_value([]).run()
    at.multiselect(key="rf_langs").set_value(["en"]).run()
    assert list(at.dataframe[0].value["#"]) == [seeded.a]


def test_coach_override_with_corrections_and_comment(seeded) -> None:
    a = seeded.a
    at = _page()
    at.selectbox(key="review_pick").set_value(a).run()
    assert "Grader: LV.2" in texts_of(at)
    at.selectbox(key=f"coach_level_{a}").set_value(1).run()
    at.selectbox(key=f"corr_{a}_co.L2.1").set_value("partial").run()
    at.text_area(key=f"coach_comment_{a}").input("Good start; <b>no</b> loop yet").run()
    at.text_input(key="coach_name").input("Coach Kim").run()
    at.button(key=f"review_save_{a}").click().run()
    assert not at.exception
    assert [s.value for s in at.success] == [f"Review saved for #{a}: LV.1. It has left the unreviewed list; the next one is open below."]
    assert list(at.dataframe[0].value["#"]) == [seeded.b]  # at once, not on the next rerun
    assert at.selectbox(key="review_pick").value == seeded.b
    review = seeded.store.get(a).review
    assert review.coach_level == 1 and review.comment == "Good start; <b>no</b> loop yet" and review.coach == "Coach Kim"
    assert review.indicator_corrections == {"co.L2.1": "partial"} and review.blind is False
    at.run()
    assert not at.success  # said once
    at.checkbox(key="rf_unreviewed").uncheck().run()
    assert list(at.dataframe[0].value["coach"])[1] == "LV.1"


def test_correction_boxes_have_plain_text_labels(seeded) -> None:
    """A screen reader reads a widget's label as given: the correction boxes get the plain text
    (no Markdown backslashes), and the text shown above each box is the escaped copy."""
    from streamlit.proto.LabelVisibility_pb2 import LabelVisibility

    from grader.ui.render import md_escape

    a = seeded.a
    at = _page()
    at.selectbox(key="review_pick").set_value(a).run()
    box = at.selectbox(key=f"corr_{a}_co.L2.1")
    assert box.label == "co.L2.1 — Level 2 indicator <b>one</b>"  # the rubric text as written, no escapes
    assert box.proto.label_visibility.value == LabelVisibility.LabelVisibilityOptions.COLLAPSED
    assert md_escape(box.label) in [m.value for m in at.markdown]  # the visible text, shown as typed
    assert all("\\" not in at.selectbox(key=f"corr_{a}_co.L{lv}.1").label for lv in range(6))


def test_a_story_withdrawn_while_open_says_so_and_the_review_is_not_lost_silently(seeded) -> None:
    a = seeded.a
    at = _page()
    at.selectbox(key="review_pick").set_value(a).run()
    at.selectbox(key=f"coach_level_{a}").set_value(3).run()
    at.text_area(key=f"coach_comment_{a}").input("Great follow-through").run()
    seeded.store.delete_submission(seeded.store.get(a).submission_id)  # the author withdraws it meanwhile
    at.button(key=f"review_save_{a}").click().run()
    assert not at.exception
    assert [w.value for w in at.warning] == [
        f"Grading #{a} was withdrawn by its author and is no longer stored. Your review of it was not saved."
    ]
    assert seeded.store.reviews_of(a) == [] and at.selectbox(key="review_pick").value == seeded.b
    at.run()
    assert not at.warning  # said once


def _review_then_elsewhere() -> None:
    """The Review page, or (while "away" is set) another page that draws none of its widgets."""
    import streamlit as st

    from grader.ui.review_page import render
    from grader.ui.shell import keep_inputs

    keep_inputs()
    if not st.session_state.get("away", False):
        render()


def test_the_coachs_name_filters_pick_and_draft_survive_a_visit_to_another_page(seeded) -> None:
    a = seeded.a
    at = AppTest.from_function(_review_then_elsewhere, default_timeout=30).run()
    at.text_input(key="coach_name").input("Coach Kim").run()
    at.multiselect(key="rf_langs").set_value(["en"]).run()
    at.selectbox(key="review_pick").set_value(a).run()
    at.selectbox(key=f"coach_level_{a}").set_value(4).run()
    at.text_area(key=f"coach_comment_{a}").input("Draft comment").run()
    at.session_state["away"] = True
    at.run()
    at.session_state["away"] = False
    at.run()
    assert not at.exception
    assert at.text_input(key="coach_name").value == "Coach Kim" and at.multiselect(key="rf_langs").value == ["en"]
    assert at.selectbox(key="review_pick").value == a and at.selectbox(key=f"coach_level_{a}").value == 4
    assert at.text_area(key=f"coach_comment_{a}").value == "Draft comment"
    at.button(key=f"review_save_{a}").click().run()
    review = seeded.store.get(a).review
    assert (review.coach, review.coach_level, review.comment) == ("Coach Kim", 4, "Draft comment")


def test_blind_mode_hides_grader_level_until_coach_chooses(seeded) -> None:
    a = seeded.a
    at = _page()
    at.toggle(key="review_blind").set_value(True).run()
    at.selectbox(key="review_pick").set_value(a).run()
    queue = at.dataframe[0].value
    assert "level" not in queue.columns and "confidence" not in queue.columns and "split" not in queue.columns
    assert "Grader:" not in texts_of(at) and 'class="ladder-step"' not in html_of(at)
    assert "<mark" not in html_of(at) and EN in html_of(at)  # the story, without the grader's evidence marks
    assert not at.metric and any("hidden until you choose" in i.value for i in at.info)
    at.selectbox(key=f"coach_level_{a}").set_value(3).run()
    assert "Grader: LV.2" in texts_of(at) and 'data-level="2" aria-current="step"' in html_of(at)
    at.button(key=f"review_save_{a}").click().run()
    assert seeded.store.get(a).review.blind is True and seeded.store.get(a).review.coach_level == 3


def test_blind_flag_dropped_when_level_changed_after_reveal(seeded) -> None:
    b = seeded.b
    at = _page()
    at.toggle(key="review_blind").set_value(True).run()
    at.selectbox(key="review_pick").set_value(b).run()
    at.selectbox(key=f"coach_level_{b}").set_value(2).run()
    at.selectbox(key=f"coach_level_{b}").set_value(4).run()  # changed after seeing the grader's LV.4
    at.button(key=f"review_save_{b}").click().run()
    review = seeded.store.get(b).review
    assert review.coach_level == 4 and review.blind is False


def test_agreement_dashboard_and_export(seeded, monkeypatch) -> None:
    s = seeded.store
    c = s.save("A third customer story.", make_grade("A third customer story.", 1)).grade_id
    s.add_review(seeded.a, coach_level=2)
    s.add_review(seeded.b, coach_level=3, blind=True)
    s.add_review(c, coach_level=2, corrections={"co.L2.1": "met"})
    exported: list[str] = []

    def spy(records):
        text = review_page.__dict__["_real_jsonl"](records)
        exported.append(text)
        return text

    monkeypatch.setitem(review_page.__dict__, "_real_jsonl", review_page.eval_set_jsonl)
    monkeypatch.setattr(review_page, "eval_set_jsonl", spy)
    at = _page()
    assert not at.exception
    values = {m.label: m.value for m in at.metric}
    coach, grader = [2, 3, 2], [2, 4, 1]
    assert values["Reviewed"] == "3"
    assert values["QWK"] == f"{metrics.qwk(coach, grader):.3f}"  # 3 decimals, as the Evals page's metrics
    assert values["Exact"] == "0.333" and values["Within one"] == "1.000"
    assert at.get("vega_lite_chart")  # the confusion heatmap
    at.checkbox(key="agree_blind").check().run()
    assert {m.label: m.value for m in at.metric}["Reviewed"] == "1"
    assert any("3 reviewed grading(s)" in m.value for m in at.markdown)
    assert [b.label for b in at.get("download_button")] == ["Download eval set (JSONL)", "Download CSV"]
    lines = [json.loads(x) for x in exported[-1].splitlines()]
    assert {x["id"]: x["level"] for x in lines} == {f"review-{seeded.a}": 2, f"review-{seeded.b}": 3, f"review-{c}": 2}
    assert all(x["tags"] == ["coach-review"] and x["source"] == "review" for x in lines)


def test_korean_queue_headers_filters_and_statuses(seeded) -> None:
    story = "Kimchi stew: fry the pork, add kimchi and simmer."
    c = seeded.store.save(story, make_grade(story, None, confidence=0.3), author="Jun").grade_id
    at = _page("ko-KR")
    assert not at.exception
    labels = column_labels(at.dataframe[0])
    assert labels["time"] == "시각" and labels["coach"] == "코치 레벨" and labels["story"] == "이야기"
    assert at.multiselect(key="rf_engines").proto.placeholder == "전체"
    at.selectbox(key="review_pick").set_value(c).run()
    assert "평가기: 레벨 없음 (근거 부족)" in texts_of(at)
    assert at.selectbox(key=f"corr_{c}_co.L0.1").options == ["충족", "부분 충족", "미충족", "근거 없음"]
    a = seeded.a  # an English story, reviewed in the Korean interface: the coach's choices are in Korean
    at.selectbox(key="review_pick").set_value(a).run()
    options = at.selectbox(key=f"coach_level_{a}").options
    assert len(options) == 6 and all(re.search("[가-힣]", o) for o in options), options
    label = at.selectbox(key=f"corr_{a}_co.L2.1").label
    assert re.search("[가-힣]", label), label
    criteria = next(d.value for d in at.dataframe if "criterion" in d.value.columns)["criterion"]
    assert "레벨 2 지표" in list(criteria)  # the indicator table's criteria too, as in the correction boxes
    meta = next(c.value for c in at.caption if f"#{a} ·" in c.value).replace("\\", "")  # markdown escapes off
    assert "· 영어 ·" in meta and re.search(r"· \d{4}-\d\d-\d\d \d\d:\d\d UTC ·", meta), meta
    assert at.multiselect(key="rf_langs").options == ["한국어", "영어"]  # not "English" in the Korean interface
    assert set(at.dataframe[0].value["lang"]) == {"한국어", "영어"}
