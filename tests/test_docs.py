"""The README tells the truth about settings and commands."""

from pathlib import Path

from grader.cli import app
from grader.config import ENV_VARS

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_documented() -> None:
    for name in ENV_VARS:
        assert f"`{name}`" in README, f"{name} is missing from the README configuration table"


def test_every_cli_command_is_documented() -> None:
    names = [c.name or c.callback.__name__ for c in app.registered_commands] + [g.name for g in app.registered_groups]
    for name in names:
        assert f"grader {name}" in README, f"`grader {name}` is missing from the README"


def test_the_two_commands_are_documented() -> None:
    assert "make run" in README and "make test" in README


def test_the_opening_example_is_what_the_grader_says(grader_settings) -> None:
    """The story, level, confidence and indicator statuses shown at the top of the README are
    today's output (they go stale when the model is retrained)."""
    import re

    from grader.grading import grade

    block = README.split("$ cat story.txt\n", 1)[1].split("\n```", 1)[0]
    story, shown = block.split("$ uv run grader grade story.txt\n", 1)
    g = grade(story, settings=grader_settings)
    level, confidence = re.search(r"^LV\.(\d) .*confidence (\d\.\d\d)$", shown, re.M).groups()
    assert (g.level, f"{g.confidence:.2f}") == (int(level), confidence)
    listed = dict(re.findall(r"^ (co\.L\d\.\d) \S+ (met|partial) ", shown, re.M))
    assert listed == {j.id: j.status for j in g.indicators if j.status in ("met", "partial")}
