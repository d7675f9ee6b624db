"""The README's benchmark tables are the latest results' (generated from latest.json)."""

from __future__ import annotations

import json

from benchmarks.readme import LATEST, README, block, tables


def test_the_readme_shows_the_latest_results() -> None:
    report = json.loads(LATEST.read_text())
    assert block(README.read_text()) == tables(report), "run `python -m benchmarks.readme`"


def test_latest_md_is_from_the_same_run_as_latest_json() -> None:
    report = json.loads(LATEST.read_text())
    markdown = (LATEST.parent / "latest.md").read_text()
    assert f"- date: {report['meta']['date']}" in markdown
    assert f"- commit: {report['meta']['commit']}" in markdown
