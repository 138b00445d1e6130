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
