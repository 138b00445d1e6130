"""Evals page (AppTest): run an eval set from evals/ or an upload, metrics and charts, history, compare."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from app_fakes import app_env, texts_of  # noqa: F401 - fixture
from grader import evals
from grader.ui import evals_page

ITEMS = [
    {"id": "a", "text": "A customer called. Another customer wrote.", "level": 2, "lang": "en"},
    {"id": "b", "text": "고객을 만났다.", "level": 1, "lang": "ko"},
    {"id": "c", "text": "Nothing to see here.", "level": 0, "lang": "en"},
    {"id": "d", "text": "Customer one. Customer two. Customer three.", "level": 2, "lang": "en"},
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


def _page() -> AppTest:
    return AppTest.from_function(evals_script, default_timeout=60).run()


def test_run_from_evals_dir_shows_metrics_charts_and_history(evals_env) -> None:
    at = _page()
    assert not at.exception
    assert at.selectbox(key="evals_file").value.name == "dev.jsonl"
    assert any("No eval runs yet" in i.value for i in at.info)
    at.button(key="evals_run").click().run()
    assert not at.exception
    assert at.get("progress") and "finished" in at.get("progress")[0].proto.text
    values = {m.label: m.value for m in at.metric}
    assert values["n"] == "4" and values["accuracy"] == "0.667" and values["n_failed"] == "0"
    assert len(at.get("vega_lite_chart")) == 2  # confusion heatmap + per-level recall
    runs = evals_env.store.eval_runs()
    assert len(runs) == 1 and runs[0].n == 4 and runs[0].accuracy == pytest.approx(2 / 3, abs=1e-3) and runs[0].model == "fake-1"
    assert (evals_env.settings.data_dir / "eval-runs" / runs[0].id / "report.json").is_file()
    history = at.dataframe[0].value
    assert list(history["run"]) == [runs[0].id]
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
    assert "qwk" in list(table["metric"]) and {"A", "B", "Δ (B−A)", "95% CI"} <= set(table.columns)
    assert "Items whose level or status changed: 0" in texts_of(at)


def test_upload_and_malformed_upload(evals_env) -> None:
    at = _page()
    at.radio(key="evals_source").set_value("upload").run()
    bad = b'{"id": "x", "text": "ok", "level": 1}\n{"id": "y", "text": \n'
    at.file_uploader(key="evals_upload").set_value(("bad set.jsonl", bad, "application/json")).run()
    at.button(key="evals_run").click().run()
    assert any(".jsonl:2: not valid JSON" in e.value for e in at.error)  # the line is named
    assert evals_env.store.eval_runs() == []
    good = "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in ITEMS[:2]).encode()
    at.file_uploader(key="evals_upload").set_value(("../../etc/my set.jsonl", good, "application/json")).run()
    at.button(key="evals_run").click().run()
    assert not at.exception
    runs = evals_env.store.eval_runs()
    assert len(runs) == 1 and runs[0].n == 2
    saved = evals_env.settings.data_dir / "eval-uploads"
    assert runs[0].file.startswith(str(saved)) and "my_set-" in runs[0].file  # name made safe, kept under data dir
