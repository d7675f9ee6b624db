"""The collector's settings of a gateway process (gateway/heap.py): the start-up heap is
frozen and the young generation widened, and `imagegate serve` does it once its app is
built, before it serves."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from gateway import heap
from gateway.cli import main
from gateway.settings import default_config_path


@pytest.fixture
def restored() -> Iterator[None]:
    """The test process's own collector settings, back after the test."""
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_tune_freezes_the_heap_and_widens_the_young_generation(restored: None) -> None:
    middle, oldest = gc.get_threshold()[1:]
    heap.tune()
    assert gc.get_threshold() == (heap.YOUNG, middle, oldest)
    assert gc.get_freeze_count() > 1000  # the modules, classes and functions loaded so far


def test_serve_tunes_the_collector_before_it_serves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    monkeypatch.setattr(heap, "tune", lambda: seen.append("tune"))
    monkeypatch.setattr(uvicorn, "run", lambda app, **_: seen.append("run"))
    monkeypatch.chdir(tmp_path)  # the embedded default keeps its data under ./data
    main(["serve", "--config", str(default_config_path()), "--port", "0"])
    assert seen == ["tune", "run"]
