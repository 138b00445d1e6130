import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from grader.errors import RubricError
from grader.rubric import load_rubric, load_rubric_file, validate_rubric_file
from tests.rubric_factory import mutated, rubric_dict

REPO = Path(__file__).resolve().parents[1]
REAL = REPO / "corpus" / "rubrics" / "customer-obsession.yaml"


def write(tmp_path: Path, data: object, name: str = "customer-obsession.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return p


def test_real_rubric_is_complete() -> None:
    r = load_rubric_file(REAL)
    assert [lv.level for lv in r.levels] == [0, 1, 2, 3, 4, 5]
    assert [len(lv.indicators) for lv in r.levels] == [3, 3, 4, 3, 4, 4]
    assert {p.id for p in r.principles} >= {f"co.p{i}" for i in range(1, 7)}
    assert r.levels[0].name.en == "Customer indifference"
    assert r.levels[5].name.ko == "고객 혁신가"
    for lv in r.levels[:3]:
        assert len(lv.examples) >= 3, f"LV.{lv.level} must carry the article's example behaviours"
    for ind in r.indicators():
        assert ind.cues.ko and ind.cues.en, f"{ind.id} needs behaviour cues in both languages"
    assert r.source.date == "2023-06-13"


def test_valid_rubric_loads(tmp_path: Path) -> None:
    r = load_rubric_file(write(tmp_path, rubric_dict()))
    assert r.max_level == 5 and len(r.indicators()) == 21
    assert r.indicator("co.L3.2").level == 3


@pytest.mark.parametrize(
    "change, field, problem",
    [
        (lambda d: d.pop("version"), "version", "Field required"),
        (lambda d: d["levels"][3]["indicators"][1].update(id="L3-2"), "levels[level 3].indicators[L3-2].id", "must look like"),
        (lambda d: d["levels"][2]["indicators"][0]["text"].pop("ko"), "levels[level 2].indicators[co.L2.1].text.ko", "Field required"),
        (lambda d: d["levels"][1]["indicators"][0]["text"].update(en=""), "text.en", "at least 1 character"),
        (lambda d: d["levels"][4]["indicators"][0]["cues"].update(en=["(unclosed"]), "cues.en", "not a valid regular expression"),
        (lambda d: d["levels"].pop(2), "(top level)", "numbered 0..4 in order"),
        (lambda d: d["levels"][1]["indicators"][0].update(id="co.L2.1"), "(top level)", "listed under level 1"),
        (lambda d: d["principles"].append({"id": "co.p1", "text": {"ko": "a", "en": "b"}}), "(top level)", "used twice"),
        (lambda d: d["levels"][0].update(unexpected=1), "levels[level 0].unexpected", "Extra inputs"),
    ],
)
def test_malformed_rubric_names_file_field_and_problem(tmp_path: Path, change, field: str, problem: str) -> None:
    path = write(tmp_path, mutated(change))
    with pytest.raises(RubricError) as exc:
        load_rubric_file(path)
    message = str(exc.value)
    assert str(path) in message
    assert field in message
    assert problem in message


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"id: [unclosed\n", "invalid YAML at line"),
        (b"- just\n- a list\n", "expected a mapping"),
        (b"\xff\xfe\x00\x01", "not UTF-8"),
    ],
)
def test_unreadable_rubric_files(tmp_path: Path, content: bytes, problem: str) -> None:
    p = tmp_path / "bad.yaml"
    p.write_bytes(content)
    with pytest.raises(RubricError, match=problem):
        load_rubric_file(p)


def test_several_rubrics_coexist_and_unknown_id_lists_them(tmp_path: Path) -> None:
    write(tmp_path, rubric_dict())
    other = mutated(lambda d: d.update(id="ownership"))
    write(tmp_path, other, "ownership.yaml")
    assert load_rubric("ownership", tmp_path).id == "ownership"
    assert load_rubric("customer-obsession", tmp_path).id == "customer-obsession"
    with pytest.raises(RubricError, match="available: customer-obsession, ownership"):
        load_rubric("nope", tmp_path)
    write(tmp_path, rubric_dict(), "mismatch.yaml")
    with pytest.raises(RubricError, match="does not match the file name"):
        load_rubric("mismatch", tmp_path)


def test_cli_rubric_validate_exit_codes(tmp_path: Path) -> None:
    bad = write(tmp_path, mutated(lambda d: d.pop("levels")))
    run = subprocess.run([sys.executable, "-m", "grader", "rubric", "validate", str(bad)], capture_output=True, text=True)
    assert run.returncode == 2
    assert "field levels" in run.stderr and "Traceback" not in run.stderr
    good = subprocess.run([sys.executable, "-m", "grader", "rubric", "validate", str(REAL)], capture_output=True, text=True)
    assert good.returncode == 0 and "21 indicators" in good.stdout


def run_cli(*args: str, corpus: Path | None = None) -> subprocess.CompletedProcess[str]:
    import os

    env = {**os.environ, "COLUMNS": "400"}
    if corpus is not None:
        env["GRADER_CORPUS_DIR"] = str(corpus)
    return subprocess.run([sys.executable, "-m", "grader", *args], capture_output=True, text=True, env=env)


def test_validate_reports_an_id_that_is_not_the_file_name(tmp_path: Path) -> None:
    path = write(tmp_path, mutated(lambda d: d.update(id="other")), "mini.yaml")
    with pytest.raises(RubricError, match=r"mini.yaml: field id: 'other' does not match the file name 'mini'"):
        validate_rubric_file(path)
    run = run_cli("rubric", "validate", str(path))
    assert run.returncode == 2 and run.stderr.startswith("error: ") and "does not match the file name 'mini'" in run.stderr
    assert "Traceback" not in run.stderr


def test_validate_reports_ids_used_by_another_rubric_of_the_folder(tmp_path: Path) -> None:
    rubrics = tmp_path / "corpus" / "rubrics"
    rubrics.mkdir(parents=True)
    write(rubrics, rubric_dict())
    mini = write(rubrics, mutated(lambda d: d.update(id="mini")), "mini.yaml")
    with pytest.raises(RubricError) as exc:
        validate_rubric_file(mini, rubrics)
    message = str(exc.value)
    assert "'mini'" in message and "'customer-obsession'" in message and "customer-obsession.yaml" in message
    assert "co.L0.1, co.L0.2, co.L0.3 and 19 more" in message
    assert validate_rubric_file(mini)[0].id == "mini"  # alone it is a valid rubric

    # in the corpus rubrics folder (GRADER_CORPUS_DIR) it is checked against the others
    run = run_cli("rubric", "validate", str(mini), corpus=tmp_path / "corpus")
    assert run.returncode == 2 and "unique across the rubrics" in run.stderr and "Traceback" not in run.stderr
    # a file elsewhere is checked against a folder with --against
    outside = write(tmp_path, mutated(lambda d: d.update(id="mini")), "mini.yaml")
    assert run_cli("rubric", "validate", str(outside), corpus=tmp_path / "corpus").returncode == 0
    run = run_cli("rubric", "validate", str(outside), "--against", str(rubrics))
    assert run.returncode == 2 and "co.L0.1" in run.stderr
    # the same file name in the folder is the rubric it would replace, not a clash
    same = write(tmp_path, rubric_dict())
    run = run_cli("rubric", "validate", str(same), "--against", str(rubrics))
    assert run.returncode == 2 and "'mini'" in run.stderr  # ... but mini.yaml there still clashes
    (rubrics / "mini.yaml").unlink()
    run = run_cli("rubric", "validate", str(same), "--against", str(rubrics))
    assert run.returncode == 0 and "no id shared with the 0 other rubric(s)" in run.stdout
