from pathlib import Path

import pytest
import yaml

from grader.config import Settings
from grader.corpus import chunk_text, html_to_text, read_document
from grader.embeddings import CountingMixin
from grader.errors import BadInputError, IndexError_, RubricError
from grader.evidence import split_sentences
from grader.index import Index
from cli_run import run_main
from tests.rubric_factory import rubric_dict


@pytest.fixture()
def small(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Settings, Path]:
    corpus = tmp_path / "corpus"
    (corpus / "rubrics").mkdir(parents=True)
    (corpus / "notes").mkdir()
    (corpus / "rubrics" / "customer-obsession.yaml").write_text(yaml.safe_dump(rubric_dict(), allow_unicode=True), encoding="utf-8")
    (corpus / "notes" / "note.md").write_text("# Note\n\n## One\nFirst fact. Second fact.\n\n## Two\n세 번째 사실입니다.\n", encoding="utf-8")
    monkeypatch.setenv("GRADER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GRADER_CORPUS_DIR", str(corpus))
    return Settings.from_env(), tmp_path


def embedded() -> int:
    return CountingMixin.embedded_texts


def test_chunks_end_on_sentence_boundaries() -> None:
    text = " ".join(f"This is sentence number {i} about customers." for i in range(60)) + " " + "고객 인터뷰를 했습니다. " * 40
    chunks = chunk_text(text, size=300)
    assert len(chunks) > 5
    sentences = {s.text for s in split_sentences(text)}
    for c in chunks:
        assert len(c) <= 300 + 60
        for s in split_sentences(c):
            assert s.text in sentences  # no sentence was cut in half


def test_html_and_bad_documents(tmp_path: Path) -> None:
    assert html_to_text("<p>Hello <b>team</b></p><script>alert(1)</script><p>Bye</p>") == "Hello team\n\nBye"
    (tmp_path / "x.bin").write_bytes(b"\x00\x01")
    with pytest.raises(BadInputError, match="unsupported file type"):
        read_document(tmp_path / "x.bin")
    (tmp_path / "x.txt").write_bytes(b"\x00\x01binary")
    with pytest.raises(BadInputError, match="binary"):
        read_document(tmp_path / "x.txt")
    (tmp_path / "y.txt").write_bytes("café".encode("latin-1"))
    with pytest.raises(BadInputError, match="not UTF-8"):
        read_document(tmp_path / "y.txt")
    (tmp_path / "z.pdf").write_bytes(b"%PDF-1.4 broken")
    with pytest.raises(BadInputError, match="cannot read this PDF"):
        read_document(tmp_path / "z.pdf")


def test_index_is_incremental(small: tuple[Settings, Path]) -> None:
    settings, tmp = small
    doc = tmp / "article.md"
    doc.write_text("# Article\n\nCustomers churned. We called them every week.\n", encoding="utf-8")
    index = Index(settings)
    first = index.build([doc])
    assert first.added == index.count() > 0
    rubric_entries = 2 * (21 + 1)
    assert index.count() == rubric_entries + first.added - rubric_entries  # every entry was added once

    before = embedded()
    second = Index(settings).build()  # reopened from disk; the user document is remembered
    assert embedded() == before, "an unchanged re-index must embed nothing"
    assert second.embedded == 0 and second.removed == 0 and second.unchanged == index.count()
    assert any(k.endswith("article.md") for k in second.sources)

    doc.write_text("# Article\n\nCustomers churned. We now call them every day.\n", encoding="utf-8")
    third = Index(settings).build()
    assert third.embedded >= 1 and third.removed >= 1  # old chunk replaced
    hits = Index(settings).search("call them every day", k=3, kinds=["passage"])
    assert any("every day" in h.text for h in hits)
    assert not any("every week" in h.text for h in Index(settings).search("every week", k=10, kinds=["passage"]))

    doc.unlink()
    fourth = Index(settings).build()
    assert fourth.removed >= 1 and fourth.embedded == 0
    assert not any(k.endswith("article.md") for k in Index(settings).sources() for k in [k["source_key"]])

    rebuilt = Index(settings).build(rebuild=True)
    assert rebuilt.embedded == Index(settings).count() == rebuilt.added


def test_search_filters_and_existing_ids(small: tuple[Settings, Path]) -> None:
    settings, _ = small
    index = Index(settings)
    index.build()
    hits = index.search("indicator 3.2", k=5, kinds=["indicator"], rubric_id="customer-obsession")
    assert hits and all(h.kind == "indicator" for h in hits)
    assert len({h.id for h in hits}) == len(hits)  # one hit per indicator, not per language
    passage = index.search("fact", k=1, kinds=["passage"])[0]
    assert index.existing_ids(["co.L3.2", "co.p1", passage.id, "co.L9.9", "passage:deadbeef"]) == {"co.L3.2", "co.p1", passage.id}
    vectors = index.indicator_vectors("customer-obsession")
    assert len(vectors) == 21 and vectors["co.L0.1"].shape == (2, 384)


def test_index_refuses_another_embedding_model(small: tuple[Settings, Path]) -> None:
    settings, _ = small
    Index(settings).build()
    other = settings.with_(embeddings="openai")
    with pytest.raises(IndexError_, match="built with embeddings 'multilingual-e5-small-q4'.*--rebuild"):
        Index(other).count()


def test_missing_user_document_is_a_clear_error(small: tuple[Settings, Path]) -> None:
    settings, tmp = small
    with pytest.raises(BadInputError, match="no such file"):
        Index(settings).build([tmp / "nope.md"])


def test_seed_articles_retrieve_level_2_3_indicators(grader_settings: Settings, seeds_dir: Path) -> None:
    index = Index(grader_settings)
    report = index.build([seeds_dir])
    assert len([s for s in report.sources if "seeds" in s]) == 2
    queries = [
        "We interviewed customers who churned to learn why they left, then changed onboarding based on what they said.",
        "이탈한 사용자들을 인터뷰해서 떠난 이유를 듣고, 그 내용을 온보딩 개선에 반영했습니다.",
    ]
    for q in queries:
        hits = index.search(q, k=5, kinds=["indicator"], rubric_id="customer-obsession")
        levels = [h.level for h in hits[:3]]
        assert any(lv in (2, 3) for lv in levels), (q, [(h.id, h.score) for h in hits])
    passages = index.search("공항에서 스테이크", k=3, kinds=["passage"])
    assert any(p.source.startswith("000_") for p in passages), [(p.source, p.text[:40]) for p in passages]


# --------------------------------------------------------------------------- rubrics of one corpus


def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The real CLI entry point in this process: (exit code, stdout, stderr)."""
    return run_main(monkeypatch, capsys, *args, columns=400)


def add_rubric(settings: Settings, name: str, **changes: object) -> Path:
    data = rubric_dict()
    data.update(changes)
    path = settings.rubrics_dir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def renamed_ids(prefix: str, **changes: object) -> dict:
    """rubric_dict() with its ids under another prefix (co.L0.1 -> <prefix>.L0.1)."""
    text = yaml.safe_dump(rubric_dict(), allow_unicode=True).replace("id: co.", f"id: {prefix}.")
    data = yaml.safe_load(text)
    data.update(changes)
    return data


def test_index_refuses_rubrics_that_share_ids_and_leaves_the_index_alone(
    small: tuple[Settings, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings, _ = small
    Index(settings).build()
    before = Index(settings).collection.get(include=["metadatas"])
    add_rubric(settings, "mini", id="mini")  # a copy of customer-obsession with only its id changed
    for rebuild in (False, True):
        with pytest.raises(RubricError) as exc:
            Index(settings).build(rebuild=rebuild)
        message = str(exc.value)
        assert "'customer-obsession'" in message and "'mini'" in message and "mini.yaml" in message
        assert "co.L0.1, co.L0.2, co.L0.3 and 19 more" in message and "unique across the rubrics" in message
        after = Index(settings).collection.get(include=["metadatas"])
        assert after["ids"] == before["ids"] and after["metadatas"] == before["metadatas"]  # --rebuild did not drop it
    code, stdout, stderr = cli(monkeypatch, capsys, "index")
    assert code == 2 and stderr.startswith("error: rubrics 'customer-obsession'") and stderr.count("\n") == 1
    assert "Traceback" not in stderr and not stdout


def test_search_and_grading_with_clashing_rubrics_are_one_clear_line(
    small: tuple[Settings, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from grader import index as index_mod
    from grader.grading import grade

    settings, _ = small
    Index(settings).build()
    add_rubric(settings, "mini", id="mini")
    index_mod.open_index.cache_clear()
    story = "I interviewed twelve customers who churned and rebuilt the import flow with five of them every week."
    for rubric_id in ("customer-obsession", "mini"):
        g = grade(story, rubric_id=rubric_id, engine="local", settings=settings)
        assert g.status == "failed" and "unique across the rubrics" in (g.error or "") and "DuplicateIDError" not in (g.error or "")
    code, _, stderr = cli(monkeypatch, capsys, "search", "customers")
    assert code == 2 and stderr.startswith("error: rubrics ") and "Traceback" not in stderr


class BrokenCollection:
    """Stands in for a Chroma collection whose every call fails the way chromadb does."""

    def __getattr__(self, name: str):
        from chromadb.errors import DuplicateIDError

        def fail(*args: object, **kwargs: object):
            raise DuplicateIDError("Expected IDs to be unique, found 2 duplicated IDs: co.p1@ko, co.p1@en in get.")

        return fail


def test_chroma_failures_become_index_errors(small: tuple[Settings, Path]) -> None:
    settings, _ = small
    index = Index(settings)
    index._collection = BrokenCollection()
    for call in (
        lambda: index.count(),
        lambda: index.search("customers"),
        lambda: index.needs_build(),
        lambda: index.build(),
        lambda: index.existing_ids(["co.p1"]),
        lambda: index.indicator_vectors("customer-obsession"),
        lambda: index.sources(),
    ):
        with pytest.raises(IndexError_, match=r"failed while .*\(DuplicateIDError: Expected IDs to be unique.*grader index"):
            call()


def test_incremental_index_notices_changed_metadata(small: tuple[Settings, Path]) -> None:
    settings, _ = small
    Index(settings).build()
    mini = add_rubric(settings, "mini", id="mini")
    mini.write_text(yaml.safe_dump(renamed_ids("mi", id="mini"), allow_unicode=True), encoding="utf-8")
    Index(settings).build()
    # the texts stay, the rubric moves: its entries must follow without being embedded again
    (settings.rubrics_dir / "customer-obsession.yaml").unlink()
    mini.write_text(yaml.safe_dump(rubric_dict() | {"id": "mini"}, allow_unicode=True), encoding="utf-8")
    before = embedded()
    report = Index(settings).build()
    assert report.updated == 44 and report.removed == 44 and report.embedded == 0 and embedded() == before
    index = Index(settings)
    assert len(index.indicator_vectors("mini")) == 21 and index.indicator_vectors("customer-obsession") == {}
    assert not index.needs_build()


def test_an_index_with_text_only_digests_is_retagged_not_re_embedded(small: tuple[Settings, Path]) -> None:
    settings, _ = small
    index = Index(settings)
    index.build()
    got = index.collection.get(include=["metadatas"])
    index.collection.update(ids=got["ids"], metadatas=[{**m, "digest": "old-format", "rubric_id": "stale"} for m in got["metadatas"]])
    assert Index(settings).needs_build()
    before = embedded()
    report = Index(settings).build()
    assert report.updated == len(got["ids"]) and report.embedded == 0 and embedded() == before
    assert len(Index(settings).indicator_vectors("customer-obsession")) == 21


def test_index_lists_a_rubric_it_skips(small: tuple[Settings, Path], monkeypatch, capsys) -> None:
    settings, _ = small
    add_rubric(settings, "mini", **{k: v for k, v in renamed_ids("mi").items() if k != "id"}, id="other")
    report = Index(settings).build()
    assert any("mini.yaml: field id: 'other' does not match the file name 'mini'" in s and "not indexed" in s for s in report.skipped)
    assert Index(settings).indicator_vectors("other") == {}
    code, _, stderr = cli(monkeypatch, capsys, "index")
    assert code == 0 and "skipped" in stderr and "does not match the file name 'mini'" in stderr


# --------------------------------------------------------------------------- search input, stderr hygiene


def test_search_refuses_unknown_kinds_and_empty_text(small: tuple[Settings, Path], monkeypatch, capsys) -> None:
    settings, _ = small
    index = Index(settings)  # checked before the index is opened: nothing to build
    with pytest.raises(BadInputError, match="unknown kind 'bogus': the kinds are indicator, principle, passage"):
        index.search("customers", kinds=["indicator", "bogus"])
    for text in ("", "  \n"):
        with pytest.raises(BadInputError, match="search text is empty"):
            index.search(text)
    for args, needle in ((["search", "x", "--kind", "bogus"], "indicator, principle, passage"), (["search", ""], "empty")):
        code, stdout, stderr = cli(monkeypatch, capsys, *args)
        assert code == 2 and stderr.startswith("error: ") and needle in stderr and not stdout, (args, stderr)


def test_a_corrupt_pdf_is_one_line_of_ours(tmp_path: Path) -> None:
    import subprocess
    import sys

    bad = tmp_path / "junk.pdf"
    bad.write_bytes(b"\x81\x96garbage that is not a pdf" * 4)
    code = (
        "import sys; from pathlib import Path; from grader.corpus import read_document\n"
        "try:\n    read_document(Path(sys.argv[1]))\nexcept Exception as exc:\n    print(exc)\n"
    )
    run = subprocess.run([sys.executable, "-c", code, str(bad)], capture_output=True, text=True)
    assert run.stderr == "", run.stderr  # no "invalid pdf header", no "EOF marker not found"
    assert "cannot read this PDF" in run.stdout


def test_index_errors_start_with_error(small: tuple[Settings, Path], monkeypatch, capsys) -> None:
    _, tmp = small
    code, _, stderr = cli(monkeypatch, capsys, "index", str(tmp / "nope.md"))
    assert code == 2 and stderr.startswith("error: ") and "no such file" in stderr  # no empty line before it
