"""SQLite store: round trips, reviews, export, concurrency, migrations, crash safety, CLI."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from app_fakes import make_grade
from grader.errors import BadInputError
from grader.store import SCHEMA_VERSION, Store, StoreError, migrate
from grader.store_export import agreement, eval_item, eval_set_jsonl, review_pairs, reviews_csv
from grader.types import EvalItem

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
STORY = "I interviewed five customers about the export step. Then we changed it."


@pytest.fixture()
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "grader.sqlite3")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), str(REPO), env.get("PYTHONPATH", "")])
    return env


# --------------------------------------------------------------------------- basics


def test_save_get_roundtrip_and_wal(store: Store) -> None:
    grade = make_grade(STORY, 3, confidence=0.81, language="en")
    rec = store.save(STORY, grade, shared=True, author="  Mina ")
    got = store.get(rec.grade_id)
    assert got is not None
    assert got.story == STORY and got.author == "Mina" and got.shared
    assert got.level == 3 and got.confidence == pytest.approx(0.81)
    assert got.grade == grade  # the whole Grade survives JSON storage
    assert got.review is None
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.version() == SCHEMA_VERSION


def test_records_filters(store: Store) -> None:
    a = store.save("Customer A. I asked them.", make_grade("Customer A. I asked them.", 1, confidence=0.3), shared=True)
    b = store.save("고객을 인터뷰했다.", make_grade("고객을 인터뷰했다.", 4, confidence=0.9, language="ko", engine="llm"), shared=True)
    store.save("Private story here.", make_grade("Private story here.", 2), shared=False)
    assert [r.grade_id for r in store.records()] == [b.grade_id, a.grade_id]  # shared only, newest first
    assert len(store.records(shared_only=False)) == 3
    assert [r.grade_id for r in store.records(levels=[4])] == [b.grade_id]
    assert [r.grade_id for r in store.records(max_confidence=0.5)] == [a.grade_id]
    assert [r.grade_id for r in store.records(engines=["llm"])] == [b.grade_id]
    assert [r.grade_id for r in store.records(languages=["ko"])] == [b.grade_id]
    store.add_review(a.grade_id, coach_level=2)
    assert [r.grade_id for r in store.records(unreviewed=True)] == [b.grade_id]
    assert [r.grade_id for r in store.records(reviewed=True)] == [a.grade_id]


def test_reviews_latest_wins_and_validation(store: Store) -> None:
    rec = store.save(STORY, make_grade(STORY, 2))
    store.add_review(rec.grade_id, coach_level=1, comment="first")
    store.add_review(rec.grade_id, coach_level=3, comment="second", corrections={"co.L3.1": "met"}, blind=True, coach="Jo")
    got = store.get(rec.grade_id)
    assert got.review.coach_level == 3 and got.review.comment == "second" and got.review.blind
    assert got.review.indicator_corrections == {"co.L3.1": "met"}
    assert [r.coach_level for r in store.reviews_of(rec.grade_id)] == [1, 3]
    with pytest.raises(BadInputError, match="not part of grade"):
        store.add_review(rec.grade_id, coach_level=2, corrections={"co.L9.9": "met"})
    with pytest.raises(BadInputError, match="status"):
        store.add_review(rec.grade_id, coach_level=2, corrections={"co.L1.1": "great"})
    with pytest.raises(BadInputError, match="level"):
        store.add_review(rec.grade_id, coach_level=12)
    with pytest.raises(BadInputError, match="0-5"):  # the levels an eval set (and `grader export`) can hold
        store.add_review(rec.grade_id, coach_level=7)
    with pytest.raises(BadInputError, match="no stored grade"):
        store.add_review(999, coach_level=1)
    assert len(store.reviews_of(rec.grade_id)) == 2  # rejected reviews left nothing behind


def test_delete_submission_removes_grade_and_reviews(store: Store) -> None:
    rec = store.save(STORY, make_grade(STORY, 2))
    store.add_review(rec.grade_id, coach_level=2)
    assert store.delete_submission(rec.submission_id)
    assert store.get(rec.grade_id) is None
    assert store.reviews_of(rec.grade_id) == []
    assert not store.delete_submission(rec.submission_id)


def test_hostile_text_is_stored_verbatim(store: Store) -> None:
    story = "<script>alert('x')</script> **bold** '; DROP TABLE grades; -- 고객\x0b"
    rec = store.save(story, make_grade(story, 1))
    assert store.get(rec.grade_id).story == story
    with pytest.raises(BadInputError):
        store.save("   ", make_grade("x", 1))


def test_eval_runs(store: Store) -> None:
    report = {"n": 10, "accuracy": 0.5, "qwk": float("nan"), "within_one": 0.9, "extra": {"x": 1}}
    run = store.add_eval_run(report, run_id="r1", file="evals/a.jsonl", engine="local", out_dir="/tmp/r1", repeats=2)
    assert run.n == 10 and run.accuracy == 0.5 and run.qwk is None and run.repeats == 2
    store.add_eval_run({"n": 3}, run_id="r2", file="b.jsonl", engine="llm", out_dir="/tmp/r2", model="m")
    assert [r.id for r in store.eval_runs()] == ["r2", "r1"]
    assert store.eval_run("r1").report["extra"] == {"x": 1}
    with pytest.raises(BadInputError, match="already stored"):
        store.add_eval_run({}, run_id="r1", file="a", engine="local", out_dir="x")


# --------------------------------------------------------------------------- export and agreement


def test_export_eval_set_contract_and_csv(store: Store) -> None:
    story = "=HYPERLINK(\"http://evil\") I called the customer. 고객에게 전화했다."
    rec = store.save(story, make_grade(story, 2, language="en"), author="@mina")
    store.save("Unreviewed customer story.", make_grade("Unreviewed customer story.", 1))
    store.add_review(rec.grade_id, coach_level=1, comment="-too strong", corrections={"co.L2.1": "partial", "co.L4.1": "met"})
    records = store.records(reviewed=True)
    lines = eval_set_jsonl(store.records()).splitlines()
    assert len(lines) == 1  # only reviewed items
    item = json.loads(lines[0])
    assert item == {
        "id": f"review-{rec.grade_id}", "text": story, "level": 1, "lang": "en", "tags": ["coach-review"],
        "indicators": ["co.L0.1", "co.L1.1", "co.L4.1"], "source": "review", "grader_level": 2,
    }
    EvalItem.model_validate(item)
    rows = list(csv.DictReader(io.StringIO(reviews_csv(records))))
    assert len(rows) == 1
    assert rows[0]["text"].startswith("'=HYPERLINK")  # no formula injection in spreadsheets
    assert rows[0]["author"] == "'@mina" and rows[0]["comment"] == "'-too strong"
    assert rows[0]["coach_level"] == "1" and rows[0]["grader_level"] == "2"
    with pytest.raises(ValueError):
        eval_item(store.records(unreviewed=True)[0])


def test_agreement_known_values() -> None:
    perfect = agreement([(0, 0), (1, 1), (2, 2), (5, 5)])
    assert perfect["qwk"] == pytest.approx(1.0) and perfect["exact"] == 1.0 and perfect["within_one"] == 1.0
    flipped = agreement([(0, 1), (1, 0)])  # observed = off-diagonal, expected half there: kappa = 1 - 2/1
    assert flipped["qwk"] == pytest.approx(-1.0) and flipped["exact"] == 0.0 and flipped["within_one"] == 1.0
    independent = agreement([(0, 0), (0, 1), (1, 0), (1, 1)])
    assert independent["qwk"] == pytest.approx(0.0) and independent["mae"] == pytest.approx(0.5)
    m = agreement([(3, 1), (3, 1), (2, 2)])["confusion"]  # rows = coach, columns = grader
    assert m[3][1] == 2 and m[2][2] == 1 and sum(map(sum, m)) == 3
    empty = agreement([])
    assert empty["n"] == 0 and empty["qwk"] is None


def test_review_pairs_skip_unleveled(store: Store) -> None:
    a = store.save(STORY, make_grade(STORY, 2))
    b = store.save("No customers here at all.", make_grade("No customers here at all.", None))
    store.add_review(a.grade_id, coach_level=3)
    store.add_review(b.grade_id, coach_level=0)
    assert review_pairs(store.records(reviewed=True)) == [(3, 2)]


# --------------------------------------------------------------------------- concurrency

WRITER = """
import sys
from pathlib import Path
from app_fakes import make_grade
from grader.store import Store
path, who, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = Store(path)
for i in range(n):
    story = f"writer {who} story {i}: I asked a customer."
    rec = store.save(story, make_grade(story, i % 6), shared=True, author=who)
    store.add_review(rec.grade_id, coach_level=(i + 1) % 6, comment=who)
    store.add_eval_run({"n": i}, run_id=f"{who}-{i}", file="f", engine="local", out_dir="o")
print("ok", flush=True)
"""


def test_eight_concurrent_writer_processes(tmp_path: Path) -> None:
    path = tmp_path / "grader.sqlite3"
    n = 15
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), f"w{k}", str(n)], env=_env(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for k in range(8)
    ]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert out.strip() == "ok"
    store = Store(path)
    records = store.records(shared_only=False, limit=10_000)
    assert len(records) == 8 * n
    assert all(r.review is not None and r.review.comment == r.author for r in records)
    assert len(store.eval_runs(limit=1000)) == 8 * n
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_eight_concurrent_writer_threads(tmp_path: Path) -> None:
    store = Store(tmp_path / "grader.sqlite3")  # one handle shared by threads, like app sessions
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for i in range(10):
                story = f"thread {k} story {i}. A customer said so."
                rec = store.save(story, make_grade(story, 2))
                store.add_review(rec.grade_id, coach_level=k % 6)
                store.records(limit=5)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert len(store.records(reviewed=True, limit=1000)) == 80


def test_a_withdrawn_story_does_not_hand_its_number_on(store: Store) -> None:
    first = store.save(STORY, make_grade(STORY, 2))
    withdrawn = store.save(STORY, make_grade(STORY, 3))
    assert store.delete_submission(withdrawn.submission_id)
    after = store.save(STORY, make_grade(STORY, 1))
    assert after.grade_id > withdrawn.grade_id > first.grade_id  # "#N" named one story, once
    assert after.submission_id > withdrawn.submission_id
    assert store.get(withdrawn.grade_id) is None


# --------------------------------------------------------------------------- migrations


def test_migration_from_schema_1_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    grade = make_grade(STORY, 2)
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, target=1) == 1
    conn.execute("INSERT INTO submissions (id, created_at, story, language, rubric_id, rubric_version, shared)"
                 " VALUES (1, '2024-01-01T00:00:00+00:00', ?, 'en', 'customer-obsession', 1, 1)", (STORY,))
    conn.execute("INSERT INTO grades (id, submission_id, engine, model, level, status, confidence, grade_json, created_at)"
                 " VALUES (7, 1, 'local', 'fake-1', 2, 'graded', 0.7, ?, '2024-01-01T00:00:00+00:00')", (grade.model_dump_json(),))
    conn.execute("INSERT INTO reviews (grade_id, coach_level, comment, created_at) VALUES (7, 3, 'old review', '2024-01-02')")
    conn.close()
    with sqlite3.connect(path) as c:
        assert "eval_runs" not in {r[0] for r in c.execute("SELECT name FROM sqlite_master")}

    store = Store(path)
    assert store.version() == SCHEMA_VERSION == 3
    rec = store.get(7)
    assert rec.story == STORY and rec.author == "" and rec.grade == grade
    assert rec.review.coach_level == 3 and rec.review.comment == "old review" and rec.review.coach == ""
    store.add_eval_run({"n": 1}, run_id="after-migration", file="f", engine="local", out_dir="o")
    new = store.save("New story about a customer.", make_grade("New story about a customer.", 1), author="Kim")
    assert new.grade_id == 8 and store.get(new.grade_id).author == "Kim"
    with sqlite3.connect(path) as c:
        assert [r[0] for r in c.execute("SELECT version FROM schema_version ORDER BY version")] == [1, 2, 3]
    # ids continue above those the old store used, also once the newest story is withdrawn
    store.delete_submission(new.submission_id)
    assert store.save("Another one.", make_grade("Another one.", 1)).grade_id == 9


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite3"
    Store(path).version()
    with sqlite3.connect(path) as c:
        c.execute("INSERT INTO schema_version VALUES (99, 'later')")
    with pytest.raises(StoreError, match="newer version"):
        Store(path).version()


def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "grader.sqlite3"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError, match="not a readable SQLite store"):
        Store(path).records()


# --------------------------------------------------------------------------- crash safety

KILLED_WRITER = """
import sqlite3, sys, time
from app_fakes import make_grade
from grader.store import Store
path, mode = sys.argv[1], sys.argv[2]
store = Store(path)
i = 0
while True:
    story = f"story {i}: the customer called."
    rec = store.save(story, make_grade(story, i % 6))
    print(rec.grade_id, flush=True)
    i += 1
    if mode == "open-tx" and i == 5:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        for k in range(200):
            conn.execute("INSERT INTO submissions (created_at, story, language, rubric_id, rubric_version) VALUES ('t', 'half-written', 'en', 'x', 1)")
        print("IN-TX", flush=True)
        time.sleep(60)
"""


def _kill_writer(path: Path, mode: str, until: str | None, seconds: float) -> list[int]:
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(path), mode], env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    committed: list[int] = []
    deadline = time.monotonic() + 60
    started = None
    try:
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            line = line.strip()
            if line == until:
                break
            committed.append(int(line))
            started = started or time.monotonic()
            if until is None and time.monotonic() - started > seconds:
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
    return committed


def test_kill_during_writes_loses_nothing_committed(tmp_path: Path) -> None:
    path = tmp_path / "grader.sqlite3"
    committed = _kill_writer(path, "loop", until=None, seconds=0.7)  # killed at an arbitrary point mid-loop
    assert len(committed) >= 3
    store = Store(path)
    ids = {r.grade_id for r in store.records(shared_only=False, limit=100_000)}
    assert set(committed) <= ids  # every write reported as committed is there
    assert len(ids) - len(committed) <= 1  # at most the one committed just before the kill, unreported
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        subs, grades = conn.execute("SELECT (SELECT COUNT(*) FROM submissions), (SELECT COUNT(*) FROM grades)").fetchone()
    assert subs == grades  # a story and its grade are written together or not at all
    assert store.save(STORY, make_grade(STORY, 1)).grade_id > max(ids)


def test_kill_inside_an_open_transaction_leaves_no_trace(tmp_path: Path) -> None:
    path = tmp_path / "grader.sqlite3"
    committed = _kill_writer(path, "open-tx", until="IN-TX", seconds=0)
    assert len(committed) == 5
    store = Store(path)
    records = store.records(shared_only=False, limit=1000)
    assert sorted(r.grade_id for r in records) == sorted(committed)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM submissions WHERE story = 'half-written'").fetchone()[0] == 0
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store.save(STORY, make_grade(STORY, 1))  # the lock died with the process


# --------------------------------------------------------------------------- CLI


def test_cli_history_evals_says_when_there_are_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from grader.cli import app

    monkeypatch.setenv("GRADER_DATA_DIR", str(tmp_path))
    res = CliRunner().invoke(app, ["history", "--evals"])
    said = " ".join(res.output.split())
    assert res.exit_code == 0 and "┏" not in res.output  # a message, not an empty table
    assert f"no eval runs stored in {tmp_path / 'grader.sqlite3'}: runs started in the app" in said
    assert "`grader eval` writes its run to --out DIR" in said
    res = CliRunner().invoke(app, ["history", "--evals", "--json"])
    assert res.exit_code == 0 and res.stdout == ""  # JSON lines stay machine-readable: none


def test_cli_history_and_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from grader.cli import app

    monkeypatch.setenv("GRADER_DATA_DIR", str(tmp_path))
    store = Store(tmp_path / "grader.sqlite3")
    rec = store.save("고객 다섯 명을 인터뷰했다. 그리고 바꿨다.", make_grade("고객 다섯 명을 인터뷰했다. 그리고 바꿨다.", 2, language="ko"), author="민아")
    store.save("Unshared story about customers.", make_grade("Unshared story about customers.", 1), shared=False)
    store.add_review(rec.grade_id, coach_level=3, comment="good")
    store.add_eval_run({"n": 4, "qwk": 0.5}, run_id="run-1", file="evals/x.jsonl", engine="local", out_dir=str(tmp_path))
    runner = CliRunner()

    res = runner.invoke(app, ["history", "--json"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["grade_id"] for r in rows] == [rec.grade_id] and rows[0]["review"]["coach_level"] == 3
    res = runner.invoke(app, ["history", "--all", "--json"])
    assert len(res.stdout.splitlines()) == 2
    res = runner.invoke(app, ["history", "--all"])
    assert f"{rec.grade_id + 1}*" in res.stdout and "not shared" in res.stdout
    res = runner.invoke(app, ["history"])
    assert res.exit_code == 0 and "LV.2" in res.stdout and "LV.3" in res.stdout
    res = runner.invoke(app, ["history", "--evals", "--json"])
    assert json.loads(res.stdout.splitlines()[0])["id"] == "run-1"
    res = runner.invoke(app, ["history", "--evals"])
    assert res.exit_code == 0 and "run-1" in res.stdout and "eval runs started in the app" in " ".join(res.stdout.split())

    out = tmp_path / "gold.jsonl"
    res = runner.invoke(app, ["export", "--out", str(out)])
    assert res.exit_code == 0, res.output
    item = json.loads(out.read_text(encoding="utf-8"))
    assert item["level"] == 3 and item["grader_level"] == 2 and item["lang"] == "ko" and item["source"] == "review"
    res = runner.invoke(app, ["export", "--format", "csv"])
    assert res.exit_code == 0 and res.stdout.splitlines()[0].startswith("id,grade_id")
    res = runner.invoke(app, ["export", "--format", "xml"])
    assert isinstance(res.exception, BadInputError)


def test_cli_history_json_into_a_pipe_closed_early_ends_quietly(tmp_path: Path) -> None:
    """`grader history --json | head -1`: the reader goes away after one line. The command ends
    with the shell's SIGPIPE status (141) and nothing on stderr; typer turned the BrokenPipeError
    of the plain line writes into exit 1, which reads as a failed command."""
    store = Store(tmp_path / "grader.sqlite3")
    story = "I called every customer who had left and asked them what went wrong. " * 15
    for _ in range(300):  # ~400 KB of JSON lines: far more than a pipe holds
        store.save(story, make_grade(story, 2))
    proc = subprocess.Popen([sys.executable, "-m", "grader", "history", "--json", "--limit", "300"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**_env(), "GRADER_DATA_DIR": str(tmp_path)})
    assert proc.stdout is not None and proc.stderr is not None
    first = json.loads(proc.stdout.readline())
    proc.stdout.close()  # like `head -1` once it has its line
    assert proc.wait(timeout=120) == 141
    assert first["story"] == story and proc.stderr.read() == b""
