"""`grader eval` and `grader eval compare` through the real CLI entry point (fake engine)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from grader import evals, grading
from cli_run import run_main
from test_evals import FakeEngine, known_ids, make_rubric, story, write_set


class Stoppable(FakeEngine):
    """Raises KeyboardInterrupt (Ctrl-C) at the first story marked STOP, once per process."""

    stopped = False

    def grade(self, story: str, rubric: Any, *, language: str) -> Any:
        if "STOP" in story and not Stoppable.stopped:
            Stoppable.stopped = True
            raise KeyboardInterrupt
        return super().grade(story, rubric, language=language)


@pytest.fixture()
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeEngine:
    engine = Stoppable()
    Stoppable.stopped = False
    monkeypatch.setenv("GRADER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(grading, "get_engine", lambda name=None, settings=None: engine)
    monkeypatch.setattr(grading, "get_rubric", lambda rubric_id=None, settings=None: make_rubric())
    monkeypatch.setattr(evals, "_index_checker", lambda settings: known_ids)
    return engine


def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    return run_main(monkeypatch, capsys, *args)


def flat(text: str) -> str:
    """The text with rich's line wrapping undone."""
    return " ".join(text.split())


HOSTILE_ID = "[/bold]<script>x</script>|[red]"


@pytest.fixture()
def eval_set(tmp_path: Path) -> Path:
    rows = [story(i, i % 6) for i in range(12)] + [{**story(12, 2), "text": "LEVEL=4 off by two", "id": HOSTILE_ID}]
    return write_set(tmp_path / "dev.jsonl", rows)


def test_eval_writes_reports_and_passes_gate(monkeypatch, capsys, fake, eval_set, tmp_path) -> None:
    out = tmp_path / "run"
    code, stdout, stderr = cli(monkeypatch, capsys, "eval", str(eval_set), "--out", str(out), "--fail-under", "qwk=0.5,within_one=0.9")
    assert code == 0, stderr
    assert "QWK" in stdout and "within one" in stdout and "gate passed: qwk >= 0.5, within_one >= 0.9" in stderr
    report = json.loads((out / "report.json").read_text())
    assert report["n"] == 13 and report["accuracy"] == pytest.approx(12 / 13, abs=1e-4)
    assert {p.name for p in out.iterdir()} >= {"report.json", "report.md", "predictions.jsonl", "confusion.png", "recall.png"}
    assert json.loads((out / "predictions.jsonl").read_text().splitlines()[-1])["id"] == HOSTILE_ID


def test_missed_threshold_exits_1(monkeypatch, capsys, fake, eval_set, tmp_path) -> None:
    code, _, stderr = cli(monkeypatch, capsys, "eval", str(eval_set), "--out", str(tmp_path / "r"), "--fail-under", "accuracy=0.95,pair_agreement=0.5")
    assert code == 1
    assert "FAIL accuracy 0.923 < 0.95" in stderr and "FAIL pair_agreement was not measured" in stderr


def test_bad_options_fail_before_grading(monkeypatch, capsys, fake, eval_set, tmp_path) -> None:
    code, _, stderr = cli(monkeypatch, capsys, "eval", str(eval_set), "--out", str(tmp_path / "r"), "--fail-under", "qwk>0.8")
    assert code == 2 and "error: --fail-under" in stderr
    code, _, stderr = cli(monkeypatch, capsys, "eval", str(eval_set), "--out", str(tmp_path / "r"), "--fail-under", "qwk=0.7,qwk=0.9")
    assert code == 2 and "error: --fail-under: metric 'qwk' is given twice" in stderr  # the last one won
    code, _, stderr = cli(monkeypatch, capsys, "eval", str(eval_set), "--out", str(tmp_path / "r"), "--fail-under", "kappa=0.7")
    assert code == 2 and "error: --fail-under: unknown metric 'kappa'" in stderr
    code, _, stderr = cli(monkeypatch, capsys, "eval", str(eval_set), "--out", str(tmp_path / "r"), "--samples", "3", "--engine", "local")
    assert code == 2 and "--samples needs --engine llm" in stderr
    bad = write_set(tmp_path / "bad.jsonl", [story(1, 1), '{"id": "x", "text": "t", "level": 9}'])
    code, _, stderr = cli(monkeypatch, capsys, "eval", str(bad), "--out", str(tmp_path / "r"))
    assert code == 2 and stderr.startswith(f"error: {bad}:2:") and "Traceback" not in stderr  # no empty line first
    unknown = write_set(tmp_path / "unknown.jsonl", [story(1, 1), story(2, 3, indicators=["co.L3.1", "lv9-foo"])])
    code, _, stderr = cli(monkeypatch, capsys, "eval", str(unknown), "--out", str(tmp_path / "r"))
    assert code == 2 and flat(stderr).startswith(f"error: {unknown}:2: field 'indicators': 'lv9-foo' is not an indicator")
    status = write_set(tmp_path / "status.jsonl", [story(1, 1), {"id": "n", "text": "Lunch.", "expected_status": "not_work"}])
    code, _, stderr = cli(monkeypatch, capsys, "eval", str(status), "--out", str(tmp_path / "r"))
    assert code == 2 and flat(stderr).startswith(f"error: {status}:2: field 'expected_status' must be") and "'not_work'" in stderr
    assert fake.calls == 0


def test_json_output(monkeypatch, capsys, fake, eval_set, tmp_path) -> None:
    code, stdout, _ = cli(monkeypatch, capsys, "eval", str(eval_set), "--out", str(tmp_path / "r"), "--json")
    assert code == 0 and json.loads(stdout)["n"] == 13


def test_ctrl_c_then_resume(monkeypatch, capsys, fake, tmp_path) -> None:
    rows = [story(i, 2) for i in range(70)]
    rows[50]["text"] += " STOP"
    p = write_set(tmp_path / "set.jsonl", rows)
    out = tmp_path / "r"
    code, _, stderr = cli(monkeypatch, capsys, "eval", str(p), "--out", str(out))
    assert code == 130 and "--resume" in stderr
    assert len((out / "predictions.jsonl").read_text().splitlines()) == 32  # the first chunk was saved
    # the count is what is on disk, not the 50 stories graded before Ctrl-C (18 were never written)
    assert f"interrupted: 32 grades are saved in {out};" in flat(stderr)
    code, _, stderr = cli(monkeypatch, capsys, "eval", str(p), "--out", str(out), "--resume")
    assert code == 0, stderr
    ids = [json.loads(x)["id"] for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert sorted(ids) == sorted(f"s{i}" for i in range(70))


def test_compare(monkeypatch, capsys, fake, eval_set, tmp_path) -> None:
    cli(monkeypatch, capsys, "eval", str(eval_set), "--out", str(tmp_path / "a"))
    fake.shift = 1
    cli(monkeypatch, capsys, "eval", str(eval_set), "--out", str(tmp_path / "b"))
    code, stdout, _ = cli(monkeypatch, capsys, "eval", "compare", str(tmp_path / "a"), str(tmp_path / "b"))
    assert code == 0 and "accuracy" in stdout and "significant" in stdout and "item(s) changed level" in stdout
    assert "[/bold]<script>" in stdout  # shown as text, not read as markup
    code, stdout, _ = cli(monkeypatch, capsys, "eval", "compare", str(tmp_path / "a"), str(tmp_path / "b"), "--json")
    result = json.loads(stdout)
    assert result["metrics"]["within_one"]["delta"] is not None and len(result["changed"]) == 11  # the two LV.5 grades stay LV.5
    code, _, stderr = cli(monkeypatch, capsys, "eval", "compare", str(tmp_path / "a"))
    assert code == 2 and "usage: grader eval compare DIR_A DIR_B" in stderr


def test_compare_checks_fail_under_on_run_b(monkeypatch, capsys, fake, eval_set, tmp_path) -> None:
    """`--fail-under` on compare is the gate of run B (it used to be accepted and ignored)."""
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    cli(monkeypatch, capsys, "eval", str(eval_set), "--out", a)
    fake.shift = 1
    cli(monkeypatch, capsys, "eval", str(eval_set), "--out", b)
    acc_a, acc_b = (json.loads((tmp_path / r / "report.json").read_text())["accuracy"] for r in ("a", "b"))
    assert acc_b < 0.5 < acc_a
    code, stdout, stderr = cli(monkeypatch, capsys, "eval", "compare", a, b, "--fail-under", "accuracy=0.5,within_one=0.9")
    assert code == 1 and "item(s) changed level" in stdout  # the comparison is still printed
    assert f"FAIL accuracy {acc_b:.3f} < 0.5 (run B)" in stderr and "within_one" not in stderr
    code, stdout, stderr = cli(monkeypatch, capsys, "eval", "compare", a, b, "--fail-under", "accuracy=0.5", "--json")
    assert code == 1 and json.loads(stdout)["n_common"] == 13 and "FAIL accuracy" in stderr
    code, _, stderr = cli(monkeypatch, capsys, "eval", "compare", b, a, "--fail-under", "accuracy=0.5")
    assert code == 0 and "gate passed (run B): accuracy >= 0.5" in stderr
    code, _, stderr = cli(monkeypatch, capsys, "eval", "compare", a, b, "--fail-under", "accuracy=0.5,accuracy=0.1")
    assert code == 2 and "'accuracy' is given twice" in stderr
    code, _, stderr = cli(monkeypatch, capsys, "eval", "compare", a, b, "--fail-under", "kappa=0.5")
    assert code == 2 and "unknown metric 'kappa'" in stderr


def test_compare_refuses_options_of_a_run(monkeypatch, capsys, fake, eval_set, tmp_path) -> None:
    cli(monkeypatch, capsys, "eval", str(eval_set), "--out", str(tmp_path / "a"))
    for extra in (["--engine", "llm"], ["--out", "out/eval"], ["--repeats", "2"], ["--resume"], ["--rubric", "x"]):
        code, stdout, stderr = cli(monkeypatch, capsys, "eval", "compare", str(tmp_path / "a"), str(tmp_path / "a"), *extra)
        assert code == 2 and f"{extra[0]} would do nothing there" in flat(stderr) and stdout == "", extra


def test_compare_shows_the_engine_and_model_of_both_runs(monkeypatch, capsys, fake, eval_set, tmp_path) -> None:
    from grader.types import EngineInfo

    cli(monkeypatch, capsys, "eval", str(eval_set), "--out", str(tmp_path / "a"))  # a run that names no model
    monkeypatch.setattr(Stoppable, "info", property(lambda self: EngineInfo(name="fake", model="level-model 0123456789ab")))
    cli(monkeypatch, capsys, "eval", str(eval_set), "--out", str(tmp_path / "b"))
    assert json.loads((tmp_path / "b" / "run.json").read_text())["engine"]["model"] == "level-model 0123456789ab"
    code, stdout, _ = cli(monkeypatch, capsys, "eval", "compare", str(tmp_path / "a"), str(tmp_path / "b"))
    text = flat(stdout)
    assert code == 0 and "· engine fake" in text and "· engine fake (level-model 0123456789ab)" in text
    assert "A does not record its model: whether the model changed is unknown" in text
    code, stdout, _ = cli(monkeypatch, capsys, "eval", "compare", str(tmp_path / "b"), str(tmp_path / "a"))
    assert "B does not record its model: whether the model changed is unknown" in flat(stdout)
    monkeypatch.setattr(Stoppable, "info", property(lambda self: EngineInfo(name="fake", model="level-model ffffffffffff")))
    cli(monkeypatch, capsys, "eval", str(eval_set), "--out", str(tmp_path / "c"))
    code, stdout, _ = cli(monkeypatch, capsys, "eval", "compare", str(tmp_path / "b"), str(tmp_path / "c"))
    assert "(level-model ffffffffffff)" in flat(stdout) and "the engine or its model changed between A and B" in flat(stdout)
    code, stdout, _ = cli(monkeypatch, capsys, "eval", "compare", str(tmp_path / "b"), str(tmp_path / "b"))
    assert "model changed" not in stdout


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_ctrl_c_with_repeats_counts_only_saved_lines(monkeypatch, capsys, fake, tmp_path) -> None:
    rows = [story(i, 2) for i in range(70)]
    rows[40]["text"] += " STOP"
    p = write_set(tmp_path / "set.jsonl", rows)
    out = tmp_path / "r"
    code, _, stderr = cli(monkeypatch, capsys, "eval", str(p), "--out", str(out), "--repeats", "3")
    on_disk = sum(len(f.read_text().splitlines()) for f in out.glob("predictions*.jsonl"))
    assert code == 130 and on_disk == 96  # the first chunk, three times; the second chunk's 8 grades were lost
    assert f"interrupted: {on_disk} grades are saved in {out};" in flat(stderr)
    code, _, stderr = cli(monkeypatch, capsys, "eval", str(p), "--out", str(out), "--repeats", "3", "--resume")
    assert code == 0, stderr
    assert sum(len(f.read_text().splitlines()) for f in out.glob("predictions*.jsonl")) == 210


def test_setup_error_leaves_the_earlier_run_untouched(monkeypatch, capsys, fake, eval_set, tmp_path) -> None:
    from grader.engines.llm import LLMEngine

    out = tmp_path / "run"
    assert cli(monkeypatch, capsys, "eval", str(eval_set), "--out", str(out))[0] == 0
    before = _snapshot(out)
    # the real llm engine, no OPENAI_API_KEY (conftest clears it) and no local server
    monkeypatch.setattr(grading, "get_engine", lambda name=None, settings=None: LLMEngine(settings) if name == "llm" else fake)
    for extra in ([], ["--samples", "3"], ["--resume"]):
        code, _, stderr = cli(monkeypatch, capsys, "eval", str(eval_set), "--out", str(out), "--engine", "llm", *extra)
        assert code == 2 and "error: OPENAI_API_KEY is not set" in stderr and "Traceback" not in stderr
        assert "note:" not in stderr  # nothing was replaced, so nothing is announced
        assert _snapshot(out) == before
    # a bad rubric id is also caught before the folder is touched
    monkeypatch.undo()
    monkeypatch.setenv("GRADER_DATA_DIR", str(tmp_path / "data"))
    code, _, stderr = cli(monkeypatch, capsys, "eval", str(eval_set), "--out", str(out), "--rubric", "no-such-rubric")
    assert code == 2 and "error:" in stderr and _snapshot(out) == before


def test_starting_over_is_announced_when_it_happens(monkeypatch, capsys, fake, eval_set, tmp_path) -> None:
    out = tmp_path / "run"
    code, _, stderr = cli(monkeypatch, capsys, "eval", str(eval_set), "--out", str(out))
    assert code == 0 and "note:" not in stderr
    code, _, stderr = cli(monkeypatch, capsys, "eval", str(eval_set), "--out", str(out))
    assert code == 0 and f"note: {out} holds an earlier run; starting over" in flat(stderr)


def test_refused_resume_writes_nothing(monkeypatch, capsys, fake, eval_set, tmp_path) -> None:
    out = tmp_path / "run"
    assert cli(monkeypatch, capsys, "eval", str(eval_set), "--out", str(out))[0] == 0
    with (out / "predictions.jsonl").open("a") as f:
        f.write('{"id": "s1", "stat')  # an incomplete last line, as a kill leaves it
    before = _snapshot(out)
    other = write_set(tmp_path / "other.jsonl", [story(100 + i, 2) for i in range(5)])
    code, _, stderr = cli(monkeypatch, capsys, "eval", str(other), "--out", str(out), "--resume")
    assert code == 2 and "13 item(s) that are not in the eval set" in stderr
    assert _snapshot(out) == before  # run.json not rewritten, the incomplete line not dropped
    code, _, stderr = cli(monkeypatch, capsys, "eval", str(eval_set), "--out", str(out), "--resume", "--samples", "2", "--engine", "llm")
    assert code == 2 and _snapshot(out) == before


def test_progress_is_reported_in_tenths_when_stderr_is_not_a_terminal(monkeypatch, capsys, fake, eval_set, tmp_path) -> None:
    """A CI log (or `make eval-gate` into a file) used to show nothing for minutes."""
    code, _, stderr = cli(monkeypatch, capsys, "eval", str(eval_set), "--out", str(tmp_path / "r"))
    assert code == 0, stderr
    lines = [x for x in stderr.splitlines() if x.startswith("graded ")]
    assert lines[-1].startswith("graded 13/13 (100%) in ") and 2 <= len(lines) <= 11
