"""The README's two commands are the ones CI and users actually run."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def fenced_after(heading: str) -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split(heading, 1)[1]
    return section.split("```bash\n", 1)[1].split("```", 1)[0].strip()


def test_ci_runs_the_readme_test_command() -> None:
    command = fenced_after("### Run the tests")
    ci_lines = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert ci_lines[-1] == command


def test_readme_start_command_uses_the_embedded_default() -> None:
    assert fenced_after("### Start the gateway") == (
        "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/imagegate serve"
    )
