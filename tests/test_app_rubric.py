"""Rubric & sources page (AppTest): rubric by level in both languages, search, sources, add document, re-index."""

from __future__ import annotations

import types

import pytest
from streamlit.testing.v1 import AppTest

from app_fakes import app_env, column_labels, html_of, texts_of  # noqa: F401 - fixture
from grader import index as index_mod
from grader.errors import IndexError_
from grader.types import Hit


def rubric_script() -> None:
    from grader.ui.rubric_page import render

    render()


class FakeIndex:
    def __init__(self) -> None:
        self.built: list[list] = []
        self.fail = False
        self.searches = 0

    def search(self, text, k=8, *, kinds=None, rubric_id=None):
        if self.fail:
            raise IndexError_("the index is empty: run `grader index` first")
        self.searches += 1
        hits = [
            Hit(id="co.L3.1", kind="indicator", text="Validates with customers", source="customer-obsession v1", score=0.81, level=3),
            Hit(id="passage:1", kind="passage", text="<script>x</script> passage", source="notes.md", location="notes.md § A (chunk 1)", score=0.5),
        ]
        return [h for h in hits if not kinds or h.kind in kinds][:k]

    def sources(self):
        added = [{"source_key": f"doc:{p.name}", "title": p.stem, "kind": "passage", "entries": 3} for b in self.built for p in b]
        return [{"source_key": "corpus:rubrics/customer-obsession.yaml", "title": "Customer obsession", "kind": "indicator", "entries": 44}] + added

    def build(self, paths=(), *, rebuild=False, progress=None):
        self.built.append(list(paths))
        if progress:
            progress(1, 1)
        return types.SimpleNamespace(sources=["a", "b"], added=3, updated=0, removed=0, unchanged=40, skipped=[])


@pytest.fixture()
def fake_index(app_env, monkeypatch) -> FakeIndex:
    fake = FakeIndex()
    monkeypatch.setattr(index_mod, "ensure_index", lambda settings, progress=None: fake)
    monkeypatch.setattr(index_mod, "open_index", lambda settings: fake)
    return fake


def _page(locale: str = "en-US") -> AppTest:
    at = AppTest.from_function(rubric_script, default_timeout=30)
    at.context = {"locale": locale}  # the interface language follows the browser on a first visit
    return at.run()


def test_rubric_by_level_in_both_languages(fake_index) -> None:
    at = _page()
    assert not at.exception
    assert [t.label for t in at.tabs] == [f"LV.{i} {n}" for i, n in enumerate(["Indifference", "Aware", "Considerate", "Obsessed", "Advocate", "Innovator"])]
    assert "Level 3 summary" in html_of(at)
    level3 = at.tabs[3]
    assert list(level3.dataframe[0].value["indicator"]) == ["Level 3 indicator <b>one</b>"]  # shown as text in a table
    at.radio(key="rubric_lang").set_value("ko").run()
    assert at.tabs[3].label == "LV.3 집착" and "레벨 3 요약" in html_of(at)
    assert "Test source" in texts_of(at)


def test_search_sources_and_errors(fake_index) -> None:
    at = _page()
    at.text_input(key="rubric_query").input("interviewed customers")
    at.multiselect(key="rubric_kinds").set_value(["passage"])
    at.button[0].click().run()  # the form's submit button
    hits = next(d.value for d in at.dataframe if "score" in d.value.columns)
    assert list(hits["id"]) == ["passage:1"] and hits["text"][0] == "<script>x</script> passage"
    at.toggle(key="rubric_show_sources").set_value(True).run()
    sources = next(d.value for d in at.dataframe if "source_key" in d.value.columns)
    assert sources["entries"][0] == 44
    hits = next(d.value for d in at.dataframe if "score" in d.value.columns)  # kept while other widgets are used
    assert list(hits["id"]) == ["passage:1"] and fake_index.searches == 1  # shown again, not searched again
    at.multiselect(key="rubric_kinds").set_value([])
    at.button[0].click().run()  # a new search replaces the results
    hits = next(d.value for d in at.dataframe if "score" in d.value.columns)
    assert list(hits["id"]) == ["co.L3.1", "passage:1"] and fake_index.searches == 2
    fake_index.fail = True
    at.button[0].click().run()
    assert any("grader index" in e.value for e in at.error)
    assert not any("score" in d.value.columns for d in at.dataframe)  # a failed search drops the old results


def test_add_document_and_reindex(fake_index, app_env) -> None:
    at = _page()
    at.toggle(key="rubric_show_sources").set_value(True).run()
    at.file_uploader(key="rubric_upload").set_value(("../My notes.md", "# Notes\n고객 인터뷰 메모".encode(), "text/markdown")).run()
    at.button(key="rubric_add").click().run()
    assert not at.exception
    saved = app_env.settings.data_dir / "documents" / "My_notes.md"
    assert saved.read_text(encoding="utf-8") == "# Notes\n고객 인터뷰 메모"
    assert fake_index.built == [[saved]]
    assert any("3 added" in s.value for s in at.success)
    sources = next(d.value for d in at.dataframe if "source_key" in d.value.columns)
    assert list(sources["source_key"])[-1] == "doc:My_notes.md"  # listed right away, not on the next interaction
    at.button(key="rubric_reindex").click().run()
    assert fake_index.built[-1] == []


def test_korean_headers_kinds_and_placeholder(fake_index) -> None:
    at = _page("ko-KR")
    assert column_labels(at.tabs[3].dataframe[0])["indicator"] == "지표"
    assert at.multiselect(key="rubric_kinds").proto.placeholder == "전체"
    at.text_input(key="rubric_query").input("고객 인터뷰")
    at.button[0].click().run()
    hits = next(d for d in at.dataframe if "score" in d.value.columns)
    assert column_labels(hits)["score"] == "유사도" and column_labels(hits)["source"] == "출처"
    assert list(hits.value["kind"]) == ["지표", "문단"] and hits.proto.placeholder == "–"  # a passage has no level
    assert list(hits.value["source"]) == ["customer-obsession v1", "notes.md § A (1번째 부분)"]  # not "(chunk 1)"
    assert at.radio(key="rubric_lang").options == ["한국어", "영어"]  # the rubric's languages, named in Korean


def test_a_rejected_document_is_named_as_uploaded_and_not_kept(fake_index, app_env, monkeypatch) -> None:
    from grader.corpus import load_document

    def build(paths=(), *, rebuild=False, progress=None):  # the real check of each document
        for p in paths:
            load_document(p, str(p))
        return FakeIndex.build(fake_index, paths, progress=progress)

    monkeypatch.setattr(fake_index, "build", build)
    folder = app_env.settings.data_dir / "documents"
    at = _page()
    at.file_uploader(key="rubric_upload").set_value(("메모.txt", "고객 메모".encode("cp949"), "text/plain")).run()
    at.button(key="rubric_add").click().run()
    assert not at.exception
    [error] = [e.value for e in at.error]
    assert error.startswith("메모.txt: not UTF-8 text") and str(folder) not in error, error
    assert not (folder / "메모.txt").exists()
    at.file_uploader(key="rubric_upload").set_value(("메모.txt", "# 메모\n고객 인터뷰".encode(), "text/plain")).run()
    at.button(key="rubric_add").click().run()
    assert (folder / "메모.txt").read_text(encoding="utf-8") == "# 메모\n고객 인터뷰"
    at.file_uploader(key="rubric_upload").set_value(("메모.txt", b"\x00\x01\x02binary", "text/plain")).run()
    at.button(key="rubric_add").click().run()
    assert (folder / "메모.txt").read_text(encoding="utf-8") == "# 메모\n고객 인터뷰"  # the earlier one is put back
