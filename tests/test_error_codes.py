"""The README's error table, the codes the code raises and `PUBLIC_ERRORS` are one list."""

from __future__ import annotations

import re
from pathlib import Path

from gateway.app import HTTP_CODES
from gateway.errors import PUBLIC_ERRORS

ROOT = Path(__file__).resolve().parent.parent
RAISED = re.compile(r'ApiError\(\s*(\d{3}),\s*"(\w+)"')


def readme_table() -> dict[str, set[int]]:
    text = (ROOT / "README.md").read_text()
    table = text.split("### Errors", 1)[1].split("\n\n", 2)[1]
    rows: dict[str, set[int]] = {}
    for line in table.splitlines()[2:]:
        code, status = (cell.strip() for cell in line.strip("|").split("|")[:2])
        rows[code.strip("`")] = {int(found) for found in re.findall(r"\b\d{3}\b", status)}
    return rows


def raised_in_code() -> dict[str, set[int]]:
    found: dict[str, set[int]] = {}
    for path in (ROOT / "gateway").rglob("*.py"):
        for status, code in RAISED.findall(path.read_text()):
            found.setdefault(code, set()).add(int(status))
    for status, code in HTTP_CODES.items():  # Starlette's own 404/405, rendered by app.py
        found.setdefault(code, set()).add(status)
    return found


def test_readme_table_is_the_registry() -> None:
    assert readme_table() == {code: set(statuses) for code, statuses in PUBLIC_ERRORS.items()}


def test_every_code_the_code_raises_is_registered() -> None:
    raised = raised_in_code()
    assert raised, "the scan found no ApiError(...) at all"
    for code, statuses in raised.items():
        assert code in PUBLIC_ERRORS, f"{code} is raised but not in PUBLIC_ERRORS / README"
        assert statuses <= set(PUBLIC_ERRORS[code]), code


def test_every_registered_code_is_raised_somewhere() -> None:
    assert set(raised_in_code()) == set(PUBLIC_ERRORS)
