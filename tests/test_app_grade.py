"""Grade page (AppTest): grade flow, hostile text, save/share, bad input, engine choice, language switch."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from app_fakes import APP, app_env, html_of, texts_of  # noqa: F401 - fixture

STORY = (
    "Our customers kept failing at the export step.\n"
    "I interviewed five customers about it.\n"
    "We shipped a fix and the customer tickets dropped by half."
)


def _grade(at: AppTest, story: str) -> AppTest:
    at.text_area(key="grade_story").input(story).run()
    return at.button(key="grade_button").click().run()


def _app() -> AppTest:
    return AppTest.from_file(str(APP), default_timeout=30).run()


def test_grade_flow_shows_ladder_evidence_indicators_citations_feedback(app_env) -> None:
    at = _app()
    assert not at.exception
    assert "3 / 20,000" not in texts_of(at)
    at.text_area(key="grade_story").input(STORY).run()
    assert f"{len(STORY):,} / 20,000" in texts_of(at)  # character counter and the limit
    _grade(at, STORY)
    assert not at.exception
    page = html_of(at)
    assert 'data-level="3" aria-current="step" data-current="true"' in page  # three customer sentences -> LV.3
    assert page.count("data-current") == 1 and page.count('class="ladder-step"') == 6
    assert page.count('<mark class="evidence') == 3
    assert "evidence-met" in page and "title=\"co.L0.1\"" in page
    assert any(m.label == "Confidence" and m.value == "0.72" for m in at.metric)
    table = at.dataframe[0].value
    assert list(table["indicator"][:4]) == ["co.L2.1", "co.L1.1", "co.L0.1", "co.L3.1"]  # met (highest first), partial
    assert set(table["status"]) == {"met", "partly met", "no evidence"}
    labels = [e.label for e in at.expander]
    assert any("co\\.L3\\.1" in x for x in labels) and any("passage" in x for x in labels)
    assert any("co\\.p1" in x and x.endswith("principles") for x in labels)
    assert "Ship a change and measure it." in page  # next steps
    assert len(at.get("download_button")) == 2
    assert app_env.store.records(shared_only=False) == []  # nothing stored without the tick
    assert "Not stored" in texts_of(at)


def test_no_level_shows_no_level_and_no_confidence(app_env) -> None:
    at = _grade(_app(), "I reorganised the shared drive folders by year and wrote a naming guide.")
    assert not at.exception
    assert any("Not enough evidence" in w.value for w in at.warning)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Level"] == "–" and metrics["Confidence"] == "–"  # the Grade's 0.3 is not shown
    assert 'aria-current="step"' not in html_of(at)  # no step of the ladder is marked


def test_hostile_story_renders_as_text(app_env) -> None:
    story = "<script>alert('x')</script> I asked a **customer** to [click](javascript:alert(1)).\n# Heading customer"
    at = _grade(_app(), story)
    assert not at.exception
    page = html_of(at)
    assert "<script>" not in page and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "**customer**" in page and "# Heading customer" in page  # markdown shown as typed
    assert "<b>" not in page and "&lt;b&gt;talked&lt;/b&gt;" in page  # feedback text escaped too
    assert "<i>on</i>" not in " ".join(e.label for e in at.expander)


def test_save_share_stores_only_when_ticked_and_untick_removes(app_env) -> None:
    at = _grade(_app(), STORY)
    at.text_input(key="grade_author").input("Mina").run()
    assert app_env.store.records(shared_only=False) == []
    at.checkbox(key="grade_share").check().run()
    records = app_env.store.records()
    assert len(records) == 1 and records[0].story == STORY and records[0].author == "Mina" and records[0].shared
    assert records[0].level == 3
    assert f"Saved as #{records[0].grade_id}" in texts_of(at)
    at.run()
    assert len(app_env.store.records()) == 1  # reruns do not store it twice
    at.checkbox(key="grade_share").uncheck().run()
    assert app_env.store.records(shared_only=False) == []
    assert "Removed" in texts_of(at)


def test_the_box_acts_on_the_shown_result_only_while_its_story_is_in_the_box(app_env) -> None:
    other = "A customer wrote about the invoice layout.\nI changed it the same day."
    # saved, then the story is edited: unticking must not withdraw the saved one
    at = _app()
    at.checkbox(key="grade_share").check().run()
    _grade(at, STORY)
    [saved] = app_env.store.records()
    at.text_area(key="grade_story").input(other).run()
    assert "You changed the story after grading" in texts_of(at)
    at.checkbox(key="grade_share").uncheck().run()
    assert [r.grade_id for r in app_env.store.records()] == [saved.grade_id]
    _grade(at, other)  # the box, unticked, applies to the new grading
    assert [r.story for r in app_env.store.records(shared_only=False)] == [STORY]
    assert "Not stored" in texts_of(at)

    # not saved, then edited and ticked: the earlier result is not stored, the next grading is
    at = _grade(_app(), other)
    at.text_area(key="grade_story").input(STORY + " Again.").run()
    at.checkbox(key="grade_share").check().run()
    assert [r.story for r in app_env.store.records(shared_only=False)] == [STORY]
    assert "Not stored" not in texts_of(at)  # "tick to keep it" would mislead: the box is ticked, for the next grading
    _grade(at, STORY + " Again.")
    assert sorted(r.story for r in app_env.store.records()) == [STORY, STORY + " Again."]


def test_a_name_typed_after_saving_is_stored(app_env) -> None:
    at = _grade(_app(), STORY)
    at.checkbox(key="grade_share").check().run()
    assert app_env.store.records()[0].author == ""
    at.text_input(key="grade_author").input("  Mina ").run()
    assert app_env.store.records()[0].author == "Mina"
    assert len(app_env.store.records()) == 1


def test_tick_before_grading_saves_the_result(app_env) -> None:
    at = _app()
    at.checkbox(key="grade_share").check().run()
    assert app_env.store.records(shared_only=False) == []
    _grade(at, STORY)
    assert len(app_env.store.records()) == 1


def test_bad_input_shows_the_message(app_env, monkeypatch) -> None:
    at = _grade(_app(), "   \n ")
    assert any("story is empty" in e.value for e in at.error)
    assert not at.html  # no result
    monkeypatch.setenv("GRADER_MAX_CHARS", "100")
    at = _app()
    long_story = "customer " * 20
    at.text_area(key="grade_story").input(long_story).run()
    assert any("over the limit" in w.value for w in at.warning)
    at.button(key="grade_button").click().run()
    assert any("the limit is 100" in e.value for e in at.error)
    assert app_env.engine.calls == 0


def test_engine_failure_is_shown_and_never_stored(app_env) -> None:
    at = _app()
    at.checkbox(key="grade_share").check().run()
    _grade(at, "FAIL-ME customer story.")
    assert any("simulated model failure" in e.value for e in at.error)
    assert 'class="ladder-step"' not in html_of(at)
    assert app_env.store.records(shared_only=False) == []


def test_llm_engine_offered_only_when_configured(app_env, monkeypatch) -> None:
    at = _app()
    assert at.selectbox(key="grade_engine").options == ["local (offline)"]
    assert any("OPENAI_API_KEY" in c.value for c in at.caption)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("GRADER_MODEL", "qwen2.5-7b")
    at = _app()
    assert at.selectbox(key="grade_engine").options == ["local (offline)", "llm (qwen2.5-7b)"]


def test_korean_interface_switch(app_env) -> None:
    at = _app()
    assert at.title[0].value == "Grade a work story"
    at.sidebar.radio[0].set_value("ko").run()
    assert at.title[0].value == "일하는 방식 이야기 평가"
    _grade(at, "고객 다섯 명을 인터뷰했다. 고객 불만을 고쳤다.")
    assert not at.exception
    assert 'data-level="2" aria-current="step"' in html_of(at) and "집착" in html_of(at)
    assert any(m.label == "신뢰도" for m in at.metric)
    table = at.dataframe[0]
    assert set(table.value["status"]) == {"충족", "부분 충족", "근거 없음"}  # not the raw met / partial / no_evidence
    width = json.loads(table.proto.columns)["status"]["width"]
    assert isinstance(width, int) and width >= 100  # "small" (75 px) cut "no evidence" to "no evidenc"
    assert any(e.label.endswith("원칙") for e in at.expander)  # the principle's "principles" location
    assert any(e.label.endswith("(2번째 부분\\)") for e in at.expander)  # a passage's "(chunk 2)", Markdown-escaped
    assert at.selectbox(key="grade_engine").options == ["local (오프라인)"]


def test_korean_input_errors(app_env, monkeypatch) -> None:
    monkeypatch.setenv("GRADER_MAX_CHARS", "100")
    at = _app()
    at.sidebar.radio[0].set_value("ko").run()
    _grade(at, "   \n ")
    assert [e.value for e in at.error] == ["이야기가 비어 있습니다. 어떻게 일하는지 몇 문장 써 주세요."]
    _grade(at, "고객 " * 60)
    assert [e.value for e in at.error] == ["이야기가 180자로 제한(100자)을 넘습니다. 줄인 뒤 다시 평가하세요."]
    assert app_env.engine.calls == 0


def test_first_visit_follows_browser_language(app_env) -> None:
    at = AppTest.from_file(str(APP), default_timeout=30)
    at.context = {"locale": "ko-KR"}
    at.run()
    assert at.title[0].value == "일하는 방식 이야기 평가"
    assert at.sidebar.radio[0].value == "ko"


def _two_pages() -> None:
    """The Grade page's story box, drawn only while "on_grade" is set (as st.navigation draws one page)."""
    import streamlit as st

    from grader.ui.shell import keep_inputs

    keep_inputs()
    if st.session_state.get("on_grade", True):
        st.text_area("story", key="grade_story")
        st.checkbox("share", key="grade_share")


def test_the_story_and_tick_survive_a_visit_to_another_page() -> None:
    at = AppTest.from_function(_two_pages).run()
    at.text_area(key="grade_story").input("My story about customers.").run()
    at.checkbox(key="grade_share").check().run()
    at.session_state["on_grade"] = False  # another page: the story box is not drawn
    at.run()
    at.session_state["on_grade"] = True
    at.run()
    assert at.text_area(key="grade_story").value == "My story about customers."
    assert at.checkbox(key="grade_share").value is True


def test_grading_again_stores_no_second_copy_and_earlier_copies_can_be_withdrawn(app_env) -> None:
    other = "A customer wrote about the invoice layout.\nI changed it the same day."
    at = _app()
    at.checkbox(key="grade_share").check().run()
    _grade(at, STORY)
    [first] = app_env.store.records()
    at.button(key="grade_button").click().run()  # the same story again: still one stored copy
    assert [r.grade_id for r in app_env.store.records()] == [first.grade_id]
    assert f"Saved as #{first.grade_id}" in texts_of(at) and "Still shared" not in texts_of(at)
    _grade(at, other)  # an edited story, box still ticked: stored too, the first one named as still shared
    stored = app_env.store.records()
    assert sorted(r.story for r in stored) == sorted([STORY, other])
    assert f"from earlier in this session: #{first.grade_id}" in texts_of(at)
    at.button(key="grade_withdraw_earlier").click().run()
    assert [r.story for r in app_env.store.records(shared_only=False)] == [other]
    assert f"Withdrawn: #{first.grade_id}" in texts_of(at)
    at.run()
    assert "Still shared" not in texts_of(at) and "Withdrawn" not in texts_of(at)
    at.checkbox(key="grade_share").uncheck().run()  # and the box still withdraws the one shown
    assert app_env.store.records(shared_only=False) == []


def test_a_failed_regrade_keeps_the_shared_copy_withdrawable(app_env) -> None:
    at = _app()
    at.checkbox(key="grade_share").check().run()
    _grade(at, STORY)
    [first] = app_env.store.records()
    _grade(at, "   ")  # an empty story: no result, but the stored one is still listed
    assert f"from earlier in this session: #{first.grade_id}" in texts_of(at)


def test_a_text_file_fills_the_story_box_and_a_bad_one_says_why(app_env) -> None:
    at = _app()
    at.file_uploader(key="grade_upload").set_value(("story.txt", ("\ufeff" + STORY).encode(), "text/plain")).run()
    assert not at.exception and not at.error
    assert at.text_area(key="grade_story").value == STORY  # the BOM is dropped
    at.button(key="grade_button").click().run()
    assert any(m.label == "Confidence" for m in at.metric)
    for name, data, said in (
        ("euc.txt", "고객 이야기".encode("cp949"), "euc.txt: the input is not UTF-8 text"),
        ("img.txt", b"\x89PNG\r\n\x1a\n\x00\x00", "img.txt: the input looks like binary data"),
        ("blank.md", b"  \n ", "blank.md: The story is empty"),
    ):
        at.file_uploader(key="grade_upload").set_value((name, data, "text/plain")).run()
        assert not at.exception
        assert [e.value for e in at.error][0].startswith(said), [e.value for e in at.error]
        assert at.text_area(key="grade_story").value == STORY  # the box keeps what it had


def test_a_text_file_too_long_is_named_in_korean(app_env, monkeypatch) -> None:
    monkeypatch.setenv("GRADER_MAX_CHARS", "100")
    at = AppTest.from_file(str(APP), default_timeout=30)
    at.context = {"locale": "ko-KR"}
    at.run()
    at.file_uploader(key="grade_upload").set_value(("긴 이야기.txt", ("고객 " * 60).encode(), "text/plain")).run()
    assert [e.value for e in at.error] == ["긴 이야기.txt: 이야기가 180자로 제한(100자)을 넘습니다. 줄인 뒤 다시 평가하세요."]
