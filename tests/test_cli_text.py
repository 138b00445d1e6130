"""What the CLI prints of a story, a document or a path is printed as written: square brackets are
not console markup, control characters are shown, not sent to the terminal. Stories in a third
language get no level. Output for scripts (`search --json`), and `split`'s input errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_run import run_main

from grader.config import Settings
from grader.console import shown
from grader.evidence import reads_as_korean_or_english
from grader.grading import grade

BRACKETS = (
    "I fixed the [/] bug and the [red] dashboard for our customers. \x1b[2JI called every customer who reported it "
    "and followed up weekly until it was resolved.\n"
)


def test_shown_keeps_brackets_and_makes_control_characters_visible() -> None:
    assert shown("a [/] [red]b[/red]\x1b[31m\x07 \tc\n").plain == "a [/] [red]b[/red]\\x1b[31m\\x07 \tc\n"


def test_a_story_with_brackets_and_escape_codes_prints_as_written(
    grader_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("GRADER_DATA_DIR", str(grader_settings.data_dir))
    story = tmp_path / "story.txt"
    story.write_text(BRACKETS, encoding="utf-8")
    code, stdout, stderr = run_main(monkeypatch, capsys, "grade", str(story), columns=200)
    assert code == 0, stderr
    assert "Traceback" not in stderr
    assert "[/] bug and the [red] dashboard" in stdout  # rich used to crash on "[/]" and swallow "[red]"
    assert "\x1b" not in stdout and "\\x1b[2J" in stdout


def test_history_of_a_data_dir_with_brackets_in_its_path(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = tmp_path / "x[" / "]y"  # the path reads ".../x[/]y"
    data.mkdir(parents=True)
    monkeypatch.setenv("GRADER_DATA_DIR", str(data))
    code, _, stderr = run_main(monkeypatch, capsys, "history", columns=200)
    assert code == 0 and "x[/]y" in stderr and "Traceback" not in stderr


def test_search_json_gives_whole_ids_and_texts(
    grader_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GRADER_DATA_DIR", str(grader_settings.data_dir))
    code, stdout, stderr = run_main(monkeypatch, capsys, "search", "churn interviews", "-k", "3", "--json", columns=60)
    assert code == 0, stderr
    hits = [json.loads(line) for line in stdout.splitlines()]
    assert len(hits) == 3 and all(h["id"] and h["text"] and isinstance(h["score"], float) for h in hits)


OTHER = {
    "es": "Trabajo como gerente de producto en una empresa de software. Entrevisté a doce clientes que se fueron y "
    "descubrí que el problema era la importación de datos. Construí un asistente y la activación subió del 41% al 63%.",
    "de": "Ich arbeite als Produktmanager in einer Softwarefirma. Ich habe zwölf Kunden interviewt, die gekündigt hatten, "
    "und herausgefunden, dass der Datenimport das Problem war. Danach stieg die Aktivierung von 41 auf 63 Prozent.",
    "ja": "私はプロダクトマネージャーとして働いています。解約した顧客十二人にインタビューし、原因がデータの取り込みにあると分かりました。",
    "zh": "我是一家软件公司的产品经理。我采访了十二位流失的客户，发现问题在于数据导入，于是做了导入向导。",
    "ru": "Я работаю менеджером продукта. Я опросил двенадцать ушедших клиентов и нашёл причину в импорте данных.",
}
OURS = [
    "I interviewed 12 churned customers and found the root cause was data import.",
    "Residential Solar Sales Consultant, 2022–2024. Top seller in region; walked 40 homeowners a month through quotes.",
    "저는 이탈 고객 12명을 인터뷰했고 NPS survey 결과와 usage data를 함께 봤습니다.",
    "Entrevisté",  # too short to tell
]


@pytest.mark.parametrize("text", OTHER.values(), ids=list(OTHER))
def test_other_languages_are_told_apart(text: str) -> None:
    assert not reads_as_korean_or_english(text)


@pytest.mark.parametrize("text", OURS)
def test_korean_and_english_are_read(text: str) -> None:
    assert reads_as_korean_or_english(text)


def test_a_story_in_another_language_gets_no_level_and_says_why(grader_settings: Settings) -> None:
    g = grade(OTHER["es"], settings=grader_settings)
    assert g.status == "insufficient_evidence" and g.level is None
    assert any("does not read as Korean or English" in w for w in g.warnings)
    assert not any("word(s) to read" in w for w in g.warnings)


def test_split_input_errors_are_messages(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    one = tmp_path / "one.jsonl"
    one.write_text('{"id": "a1", "text": "I called the customer back the same day.", "level": 1}\n', encoding="utf-8")
    a_file = tmp_path / "a_file"
    a_file.write_text("x", encoding="utf-8")
    code, _, stderr = run_main(monkeypatch, capsys, "split", str(one), "--out", str(a_file))
    assert code == 2 and "is a file" in stderr and "Traceback" not in stderr
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    code, _, stderr = run_main(monkeypatch, capsys, "split", str(empty), "--out", str(tmp_path / "out"))
    assert code == 2 and "no stories" in stderr and not (tmp_path / "out").exists()


def test_split_refuses_unlabeled_items(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """An item with no level, no expected_status 'insufficient_evidence' and no 'not-work' tag is
    unlabeled: split names it and writes nothing (it used to land in train like a labeled one)."""
    rows = [
        {"id": "lab-1", "text": "I called the customer back the same day.", "level": 1},
        {"id": "nw-1", "text": "Team lunch is on Friday.", "expected_status": "insufficient_evidence"},
        {"id": "nw-2", "text": "The weather was nice.", "tags": ["not-work"]},
        {"id": "todo-1", "text": "I asked five customers why they left.", "lang": "en"},
        {"id": "todo-2", "text": "고객에게 직접 전화했다.", "tags": ["star-notes"]},
    ]
    src = tmp_path / "new.jsonl"
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "out"
    code, _, stderr = run_main(monkeypatch, capsys, "split", str(src), "--out", str(out))
    said = " ".join(stderr.split())
    assert code == 2 and "error: 2 item(s) have no label: todo-1, todo-2." in said and "Traceback" not in stderr
    assert "lab-1" not in said and "nw-" not in said and not out.exists()
    labeled = tmp_path / "labeled.jsonl"
    labeled.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows[:3]), encoding="utf-8")
    code, _, stderr = run_main(monkeypatch, capsys, "split", str(labeled), "--out", str(out))
    assert code == 0, stderr
    written = {json.loads(x)["id"] for p in out.glob("*.jsonl") for x in p.read_text(encoding="utf-8").splitlines()}
    assert written == {"lab-1", "nw-1", "nw-2"}


MARKED_UP = (
    "<script>alert('xss')</script><img src=x onerror=\"document.body.style.background='red'\">\n# Big heading\n"
    "**I interviewed five customers** every week about the _export_ step, and [link](javascript:alert(1)) <b>bold tag</b>.\n"
    "I then built a prototype with them and tested it weekly, fixing what they found. $x^2$ and `code` and "
    "<div style=\"font-size:80px\">HUGE</div>\n| a | b |\n|---|---|\n| 1 | 2 |\n"
)


def test_a_story_turned_away_among_markup_says_the_markup_may_be_why(grader_settings: Settings) -> None:
    g = grade(MARKED_UP, settings=grader_settings)  # the two sentences alone get a level, among the markup none
    assert g.status == "insufficient_evidence" and any("holds markup or code" in w for w in g.warnings)
    plain = grade("I interviewed five customers every week about the export step. I then built a prototype with them "
                  "and tested it weekly, fixing what they found.", settings=grader_settings)
    assert plain.status == "graded" and not any("markup" in w for w in plain.warnings)


def test_the_first_grade_says_it_builds_the_index(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    monkeypatch.setenv("GRADER_DATA_DIR", str(tmp_path / "fresh"))
    story = tmp_path / "s.txt"
    story.write_text("I interviewed 12 churned customers and found the root cause was data import.", encoding="utf-8")
    code, _, stderr = run_main(monkeypatch, capsys, "grade", str(story))
    assert code == 0 and "building the corpus index (first run" in stderr
    code, _, stderr = run_main(monkeypatch, capsys, "grade", str(story))
    assert code == 0 and "building the corpus index" not in stderr
