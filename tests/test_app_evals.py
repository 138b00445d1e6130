"""Evals page (AppTest): run an eval set from evals/ or an upload, metrics and charts, history, compare."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app_fakes import app_env, column_labels, texts_of  # noqa: F401 - fixture
from grader import evals
from grader.errors import EngineError
from grader.render import when
from grader.ui import evals_page

ITEMS = [
    {"id": "a", "text": "A customer called. Another customer wrote.", "level": 2, "lang": "en", "pair": "p1", "tags": ["paraphrase"]},
    {"id": "b", "text": "고객을 만났다.", "level": 1, "lang": "ko"},
    {"id": "c", "text": "Nothing to see here.", "level": 0, "lang": "en"},
    {"id": "d", "text": "Customer one. Customer two. Customer three.", "level": 2, "lang": "en", "pair": "p1", "tags": ["paraphrase"]},
]


def evals_script() -> None:
    from grader.ui.evals_page import render

    render()


@pytest.fixture()
def evals_env(app_env, monkeypatch, tmp_path):
    folder = tmp_path / "evals"
    folder.mkdir()
    (folder / "dev.jsonl").write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in ITEMS), encoding="utf-8")
    monkeypatch.setattr(evals_page, "EVALS_DIR", folder)
    monkeypatch.setattr(evals, "_index_checker", lambda settings: (lambda ids: set(ids)))  # no Chroma in page tests
    return app_env


def _page(locale: str = "en-US") -> AppTest:
    at = AppTest.from_function(evals_script, default_timeout=60)
    at.context = {"locale": locale}  # the interface language follows the browser on a first visit
    return at.run()


def _formats(table) -> dict[str, str]:
    """The number format of each st.dataframe column that has one."""
    columns = json.loads(table.proto.columns or "{}")
    return {name: conf["type_config"]["format"] for name, conf in columns.items() if "format" in conf.get("type_config", {})}


def test_run_from_evals_dir_shows_metrics_charts_and_history(evals_env) -> None:
    at = _page()
    assert not at.exception
    assert at.selectbox(key="evals_file").value.name == "dev.jsonl"
    assert any("No eval runs yet" in i.value for i in at.info)
    at.button(key="evals_run").click().run()
    assert not at.exception
    assert at.get("progress") and "finished" in at.get("progress")[0].proto.text
    values = {m.label: m.value for m in at.metric}
    assert values["n"] == "4" and values["accuracy"] == "0.667" and values["failed"] == "0"
    # translation/paraphrase pairs apart from all pair ids (here the same single paraphrase pair)
    assert values["translations/paraphrases"] == values["pair agreement"] and values["pair agreement"] in ("0.000", "1.000")
    # the fake engine gives "Nothing to see here." no level: accuracy is over 3 of the 4
    assert "over the 3 stories given a level (of 4 with a gold level; 1 answered insufficient evidence)" in texts_of(at)
    assert len(at.get("vega_lite_chart")) == 2  # confusion heatmap + per-level recall
    assert re.search(r"latency p50 [\d,]+ ms · p95 [\d,]+ ms", texts_of(at))  # whole milliseconds
    runs = evals_env.store.eval_runs()
    assert len(runs) == 1 and runs[0].n == 4 and runs[0].accuracy == pytest.approx(2 / 3, abs=1e-3) and runs[0].model == "fake-1"
    assert (evals_env.settings.data_dir / "eval-runs" / runs[0].id / "report.json").is_file()
    history = at.dataframe[0].value
    assert list(history["run"]) == [runs[0].id]
    # metric columns with 3 decimals, as in the headlines (Streamlit's default shows 4); counts as they are
    assert _formats(at.dataframe[0]) == {"accuracy": "%.3f", "qwk": "%.3f", "within_one": "%.3f"}
    by_lang = next(d for d in at.dataframe if "lang" in d.value.columns)
    assert _formats(by_lang) == {"accuracy": "%.3f", "qwk": "%.3f", "within_one": "%.3f", "mae": "%.3f"}
    assert [b.label for b in at.get("download_button")] == ["Download report.md", "Download predictions.jsonl"]


def test_two_runs_are_compared(evals_env) -> None:
    at = _page()
    at.button(key="evals_run").click().run()
    at.number_input(key="evals_repeats").set_value(2).run()
    at.button(key="evals_run").click().run()
    assert not at.exception
    runs = evals_env.store.eval_runs()
    assert len(runs) == 2 and runs[0].repeats == 2
    assert "repeat_alpha" in runs[0].report
    assert f"Run {runs[0].id} finished" in at.get("progress")[0].proto.text
    assert at.selectbox(key="evals_pick").value == runs[0].id  # the new run is shown, not the first one
    assert f"{runs[0].id} · dev.jsonl · local · ×2" in texts_of(at)
    at.selectbox(key="evals_pick").set_value(runs[1].id).run()  # picking an older run still works
    assert at.selectbox(key="evals_pick").value == runs[1].id and f"{runs[1].id} · dev.jsonl · local · ×1" in texts_of(at)
    table = next(d.value for d in at.dataframe if "metric" in d.value.columns)
    assert "QWK" in list(table["metric"]) and {"A", "B", "Δ (B−A)", "95% CI"} <= set(table.columns)
    rows = table.set_index("metric")
    # 3 decimals as in the headlines, differences signed; the counts of the same columns as whole numbers
    assert (rows.loc["QWK", "A"], rows.loc["QWK", "Δ (B−A)"]) == (f"{runs[1].qwk:.3f}", "+0.000")
    assert (rows.loc["accuracy", "B"], rows.loc["n", "A"], rows.loc["n", "Δ (B−A)"]) == ("0.667", "4", "+0")
    shown = [v for k in ("A", "B", "Δ (B−A)", "paired Δ") for v in rows[k].drop(["n", "failed"]) if isinstance(v, str)]
    assert shown and all(re.fullmatch(r"[+-]?\d+\.\d{3}", v) for v in shown), shown
    assert "Items whose level or status changed: 0" in texts_of(at)
    assert (at.selectbox(key="evals_cmp_a").value, at.selectbox(key="evals_cmp_b").value) == (runs[1].id, runs[0].id)
    at.button(key="evals_run").click().run()  # a third run: compared with the second, not the old pair
    third = evals_env.store.eval_runs()[0]
    assert not at.exception and third.id not in (runs[0].id, runs[1].id)
    assert (at.selectbox(key="evals_cmp_a").value, at.selectbox(key="evals_cmp_b").value) == (runs[0].id, third.id)


def test_upload_and_malformed_upload(evals_env) -> None:
    at = _page()
    at.radio(key="evals_source").set_value("upload").run()
    bad = b'{"id": "x", "text": "ok", "level": 1}\n{"id": "y", "text": \n'
    at.file_uploader(key="evals_upload").set_value(("bad set.jsonl", bad, "application/json")).run()
    at.button(key="evals_run").click().run()
    [error] = [e.value for e in at.error]
    assert error.startswith("bad set.jsonl:2: not valid JSON"), error  # the upload and line are named, not a server path
    assert evals_env.store.eval_runs() == []
    assert not list((evals_env.settings.data_dir / "eval-uploads").glob("*"))  # and a rejected upload is not kept
    good = "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in ITEMS[:2]).encode()
    at.file_uploader(key="evals_upload").set_value(("../../etc/my set.jsonl", good, "application/json")).run()
    at.button(key="evals_run").click().run()
    assert not at.exception
    runs = evals_env.store.eval_runs()
    assert len(runs) == 1 and runs[0].n == 2
    saved = evals_env.settings.data_dir / "eval-uploads"
    kept = Path(runs[0].file)  # kept under the data dir, in a folder named by its content, under its own name
    assert kept.name == "my set.jsonl" and kept.parent.parent == saved and kept.read_bytes() == good
    # listed under the name it was uploaded under, not an internal one
    assert list(at.dataframe[0].value["file"]) == ["my set.jsonl"]
    assert f"{runs[0].id} · my set.jsonl · local · ×1" in texts_of(at)
    assert at.selectbox(key="evals_pick").options == [f"{when(runs[0].created_at)} · my set.jsonl · local ×1"]


def test_runs_of_uploads_are_told_apart_by_time_and_old_uploads_lose_their_hash(evals_env, monkeypatch) -> None:
    from grader import store

    monkeypatch.setattr(store, "now", lambda: "2026-11-27T18:44:23+00:00")  # both runs in the same minute
    data = evals_env.settings.data_dir
    good = "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in ITEMS[:2]).encode()
    at = _page()
    at.radio(key="evals_source").set_value("upload").run()
    for _ in range(2):  # the same file twice in the same minute: the selectors add the run id
        at.file_uploader(key="evals_upload").set_value(("set.jsonl", good, "application/json")).run()
        at.button(key="evals_run").click().run()
    new, old = evals_env.store.eval_runs()
    assert new.file == old.file  # one kept copy
    options = at.selectbox(key="evals_pick").options
    assert options == [f"2026-11-27 18:44 UTC · set.jsonl · local ×1 · {r.id}" for r in (new, old)]
    # a run stored before uploads kept their names: <safe stem>-<content hash>.jsonl
    report = evals_env.store.eval_run(old.id).report
    evals_env.store.add_eval_run(report, run_id="20200101-000000-abcdef", file=str(data / "eval-uploads" / "my_set-0123456789.jsonl"),
                                 engine="local", out_dir=old.out_dir)
    at.run()
    assert "my_set.jsonl" in list(at.dataframe[0].value["file"])


def test_a_failed_run_keeps_an_upload_that_a_stored_run_uses(evals_env, monkeypatch) -> None:
    good = "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in ITEMS[:2]).encode()
    at = _page()
    at.radio(key="evals_source").set_value("upload").run()
    at.file_uploader(key="evals_upload").set_value(("set.jsonl", good, "application/json")).run()
    at.button(key="evals_run").click().run()
    [run] = evals_env.store.eval_runs()

    def broken(*args, **kwargs):
        raise EngineError("the endpoint is down")

    monkeypatch.setattr(evals, "run_eval", broken)
    at.button(key="evals_run").click().run()  # the same file again, and this run fails
    assert [e.value for e in at.error] == ["the endpoint is down"]
    assert Path(run.file).read_bytes() == good  # still there for the stored run (it was deleted before)


def test_korean_metrics_coverage_and_headers(evals_env) -> None:
    at = _page("ko-KR")
    at.button(key="evals_run").click().run()
    assert not at.exception
    values = {m.label: m.value for m in at.metric}
    assert values["항목 수"] == "4" and values["정확도"] == "0.667" and values["±1 일치"]
    assert "레벨을 받은 3개로 계산했습니다. 1개는 근거 부족으로 판정되었습니다." in texts_of(at)
    assert column_labels(at.dataframe[0])["time"] == "시각"  # the run history; the data keeps its column names
    by_lang = next(d.value for d in at.dataframe if "lang" in d.value.columns)
    assert sorted(by_lang["lang"]) == ["영어", "한국어"]  # not "en" / "ko"
    heatmap = json.dumps(json.loads(at.get("vega_lite_chart")[0].proto.spec), ensure_ascii=False)
    assert '"title": "정답"' in heatmap and '"title": "예측"' in heatmap


def test_coverage_counts_failed_and_not_work_items_from_the_report() -> None:
    def script() -> None:
        from grader.ui.evals_page import _coverage

        _coverage({"extra": {"n_labeled": 174, "n_scored": 162, "n_insufficient": 10, "n_not_work": 46, "insufficient_rate": 0.9783}})
        _coverage({"n": 3})  # an older report without the counts: no line
        _coverage({"extra": {"n_labeled": 20, "n_scored": 20, "split_grades": {
            "split": {"n_scored": 4, "accuracy": 0.5}, "rest": {"n_scored": 16, "accuracy": 0.75}}}})
        _coverage({"extra": {"n_labeled": 20, "n_scored": 20, "evidence": {
            "n_gold": 30, "n_shown": 24, "shown": 0.8, "first_on_gold": 0.625, "any_on_gold": 0.75}}})

    at = AppTest.from_function(script).run()
    assert [c.value for c in at.caption] == [
        "Accuracy, QWK, within one, MAE and Spearman are over the 162 stories given a level (of 174 with a gold level; "
        "10 answered insufficient evidence). 2 of them failed and are left out too. The 46 not-work texts expect "
        "insufficient evidence and are not in these figures (judged insufficient: 0.978).",
        "Accuracy, QWK, within one, MAE and Spearman are over the 20 stories given a level (of 20 with a gold level; "
        "0 answered insufficient evidence). 4 of the levels were torn between two far-apart levels (the \"split\" "
        "warning): accuracy 0.500 on them, 0.750 on the rest.",
        "Accuracy, QWK, within one, MAE and Spearman are over the 20 stories given a level (of 20 with a gold level; "
        "0 answered insufficient evidence). Evidence: of the 30 indicators whose gold evidence sentences the set gives, "
        "24 were shown met or partial; the first quote is a gold sentence for 0.625 of them, some quote for 0.750.",
    ]


def test_runs_of_different_sets_are_not_compared(evals_env) -> None:
    other = [{"id": f"o{k}", "text": "A customer wrote to me.", "level": 1, "lang": "en"} for k in range(3)]
    folder = evals_page.EVALS_DIR
    (folder / "other.jsonl").write_text("".join(json.dumps(x) + "\n" for x in other), encoding="utf-8")
    at = _page()
    at.selectbox(key="evals_file").set_value(folder / "dev.jsonl").run()
    at.button(key="evals_run").click().run()
    at.selectbox(key="evals_file").set_value(folder / "other.jsonl").run()
    at.button(key="evals_run").click().run()
    assert not at.exception
    first_dev, other_run = [r.id for r in reversed(evals_env.store.eval_runs())]
    # no earlier run of "other": nothing is compared until run A is picked
    assert (at.selectbox(key="evals_cmp_a").value, at.selectbox(key="evals_cmp_b").value) == (other_run, other_run)
    assert "Pick two different runs to compare" in texts_of(at)
    at.selectbox(key="evals_cmp_a").set_value(first_dev).run()
    assert any("no item in common" in w.value for w in at.warning)  # dev vs other: no deltas shown
    assert not any("metric" in d.value.columns for d in at.dataframe)
    at.selectbox(key="evals_file").set_value(folder / "dev.jsonl").run()
    at.button(key="evals_run").click().run()
    dev_old, _, dev_new = [r.id for r in reversed(evals_env.store.eval_runs())]
    # the new dev run is compared with the earlier dev run, not with the run of the other set
    assert (at.selectbox(key="evals_cmp_a").value, at.selectbox(key="evals_cmp_b").value) == (dev_old, dev_new)
    assert any("metric" in d.value.columns for d in at.dataframe)


def test_runs_over_different_items_show_no_unpaired_delta(evals_env) -> None:
    folder = evals_page.EVALS_DIR
    dev = (folder / "dev.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    (folder / "part.jsonl").write_text("".join(dev[:2]), encoding="utf-8")  # two items of dev
    at = _page()
    at.selectbox(key="evals_file").set_value(folder / "part.jsonl").run()
    at.button(key="evals_run").click().run()
    at.selectbox(key="evals_file").set_value(folder / "dev.jsonl").run()
    at.button(key="evals_run").click().run()
    part, full = [r.id for r in reversed(evals_env.store.eval_runs())]
    at.selectbox(key="evals_cmp_a").set_value(part).run()
    assert not at.exception
    assert any(f"different items (0 only in A, {len(dev) - 2} only in B)" in w.value for w in at.warning)
    table = next(d.value for d in at.dataframe if "metric" in d.value.columns)
    assert "Δ (B−A)" not in table.columns and {"A", "B", "paired Δ"} <= set(table.columns)


def _evals_then_elsewhere() -> None:
    """The Evals page as app.py draws it (inputs kept before navigation), drawn only while "away" is
    unset: st.navigation draws one page per run, and a page left is not drawn."""
    import streamlit as st

    from grader.ui.evals_page import render
    from grader.ui.shell import keep_inputs

    keep_inputs()
    if not st.session_state.get("away", False):
        render()


def test_the_uploaded_file_and_picks_survive_a_visit_to_another_page(evals_env, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # offers the llm engine too (the fake grades)
    at = AppTest.from_function(_evals_then_elsewhere, default_timeout=60).run()
    at.button(key="evals_run").click().run()
    at.button(key="evals_run").click().run()
    first, second = [r.id for r in reversed(evals_env.store.eval_runs())]
    at.selectbox(key="evals_pick").set_value(first).run()
    at.selectbox(key="evals_cmp_b").set_value(first).run()
    at.radio(key="evals_source").set_value("upload").run()
    good = "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in ITEMS[:3]).encode()
    at.file_uploader(key="evals_upload").set_value(("my set.jsonl", good, "application/json")).run()
    at.selectbox(key="evals_engine").set_value("llm").run()
    at.number_input(key="evals_repeats").set_value(2).run()
    for away in (True, False):
        at.session_state["away"] = away
        at.run()
    assert not at.exception and not at.warning  # no "default value and Session State" warning either
    assert at.radio(key="evals_source").value == "upload"
    assert at.selectbox(key="evals_engine").value == "llm" and at.number_input(key="evals_repeats").value == 2
    assert at.selectbox(key="evals_pick").value == first
    assert (at.selectbox(key="evals_cmp_a").value, at.selectbox(key="evals_cmp_b").value) == (first, first)
    assert at.file_uploader(key="evals_upload").value in (None, [])  # the uploader itself starts empty again...
    assert "Uploaded earlier: **my set.jsonl** (0.3 KB)" in texts_of(at)  # ...but the page says which file it keeps
    at.button(key="evals_run").click().run()  # and runs it
    assert not at.exception
    run = evals_env.store.eval_runs()[0]
    assert (Path(run.file).name, run.engine, run.repeats, run.n) == ("my set.jsonl", "llm", 2, 3)
    assert Path(run.file).read_bytes() == good
    at.button(key="evals_upload_forget").click().run()  # "Remove": nothing to run until a file is picked
    assert at.button(key="evals_run").disabled and "Uploaded earlier" not in texts_of(at)
    at.radio(key="evals_source").set_value("evals/").run()
    for away in (True, False):
        at.session_state["away"] = away
        at.run()
    assert at.selectbox(key="evals_file").value.name == "dev.jsonl" and at.radio(key="evals_source").value == "evals/"


def test_the_progress_bar_shows_count_percentage_elapsed_time_and_time_left(evals_env, monkeypatch) -> None:
    import streamlit as st

    ticks = iter(range(0, 10_000, 10))  # the page's clock: 10 s more at each reading
    monkeypatch.setattr(evals_page, "CLOCK", lambda: float(next(ticks)))
    engine, grade = evals_env.engine, evals_env.engine.grade

    def leave_at_the_third(story, rubric, *, language):
        if engine.calls == 2:  # the user opens another page: Streamlit stops the script at its next call
            st.stop()
        return grade(story, rubric, language=language)

    monkeypatch.setattr(engine, "grade", leave_at_the_third)
    at = _page()
    assert "opening another page, or changing anything on this one, stops it" in texts_of(at)  # said before
    at.button(key="evals_run").click().run()
    # clicked at 0 s, first report (0 done) at 10 s, then 20 s and 30 s: 2 graded in 20 s, 10 s each, 2 left
    [bar] = at.get("progress")
    assert bar.proto.text == "Graded 2 / 4 (50%) · 0:30 elapsed · about 0:20 left" and bar.proto.value == 50
    at.run()
    assert evals_env.store.eval_runs() == [] and any("No eval runs yet" in i.value for i in at.info)  # as the page says
    monkeypatch.setattr(engine, "grade", grade)
    at.button(key="evals_run").click().run()
    [run] = evals_env.store.eval_runs()
    # clicked at 40 s; reports at 50 s (0 done), 60-90 s (1-4 done) and 100 s (the chunk written); finished at 110 s
    assert at.get("progress")[0].proto.text == f"Run {run.id} finished: 4 graded in 1:10."


def test_durations_are_shown_as_minutes_and_seconds() -> None:
    assert [evals_page.clock(x) for x in (0, 59.4, 59.6, 61, 3599, 3600, 7325, -3)] == [
        "0:00", "0:59", "1:00", "1:01", "59:59", "1:00:00", "2:02:05", "0:00"]


def _stop_at(engine, monkeypatch, n: int):
    """Make the fake engine's n-th grading stop the script, as Streamlit does when the user opens another page."""
    import streamlit as st

    grade = engine.grade

    def stop(story, rubric, *, language):
        if engine.calls == n - 1:
            st.stop()
        return grade(story, rubric, language=language)

    monkeypatch.setattr(engine, "grade", stop)
    return lambda: monkeypatch.setattr(engine, "grade", grade)


def test_a_stopped_run_keeps_its_saved_grades_and_is_resumed(evals_env, monkeypatch) -> None:
    monkeypatch.setattr(evals_page, "SAVE_EVERY", 2)
    monkeypatch.setenv("GRADER_CONCURRENCY", "1")  # saves every 2 stories
    engine = evals_env.engine
    restore = _stop_at(engine, monkeypatch, 3)  # stopped while grading the third story: the first two are saved
    at = _page()
    assert "A run saves its grades every 2 stories" in texts_of(at)
    at.button(key="evals_run").click().run()
    at.run()  # the page drawn again (the user is back)
    assert evals_env.store.eval_runs() == []
    [folder] = (evals_env.settings.data_dir / "eval-runs").iterdir()
    assert len((folder / "predictions.jsonl").read_text(encoding="utf-8").splitlines()) == 2
    assert len(at.warning) == 1 and "A run of dev.jsonl (local ×1) stopped before it finished: 2 grades are saved." in texts_of(at)
    restore()
    calls = engine.calls
    at.button(key=f"evals_resume_{folder.name}").click().run()
    assert not at.exception and not at.warning
    assert engine.calls - calls == 2  # only the two stories not saved are graded
    [run] = evals_env.store.eval_runs()
    assert run.id == folder.name and run.n == 4 and run.accuracy == pytest.approx(2 / 3, abs=1e-3)
    ids = [json.loads(x)["id"] for x in (folder / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    assert ids == ["a", "b", "c", "d"]
    assert re.fullmatch(rf"Run {run.id} finished: 4 graded, the last 2 of them in \d:\d\d after resuming\.",
                        at.get("progress")[0].proto.text)
    assert at.selectbox(key="evals_pick").value == run.id


def test_a_stopped_run_of_an_upload_can_be_discarded(evals_env, monkeypatch) -> None:
    _stop_at(evals_env.engine, monkeypatch, 2)
    at = _page()
    at.radio(key="evals_source").set_value("upload").run()
    good = "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in ITEMS).encode()
    at.file_uploader(key="evals_upload").set_value(("my set.jsonl", good, "application/json")).run()
    at.button(key="evals_run").click().run()
    at.run()
    assert len(at.warning) == 1 and "A run of my set.jsonl (local ×1) stopped before it finished: 0 grades are saved." in texts_of(at)
    data = evals_env.settings.data_dir
    [folder] = (data / "eval-runs").iterdir()
    at.button(key=f"evals_discard_{folder.name}").click().run()
    assert not at.warning and not folder.exists()
    assert not list((data / "eval-uploads").iterdir())  # its upload too, as no stored run uses it
