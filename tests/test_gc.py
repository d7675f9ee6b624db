"""Retention (`collect_garbage`, `imagegate gc`): live images survive, old unreferenced ones
go, and nothing a job is storing or referencing right now is deleted."""

from __future__ import annotations

import asyncio
import io
import os
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

import gateway.state.memory as memory_module
from gateway.cli import main
from gateway.gc import collect_garbage
from gateway.jobs import Job, JobResult, JobSpec, StoredImage, new_job_id
from gateway.settings import Settings, StorageSettings
from gateway.state import StateStore, StateUnavailable
from gateway.state.memory import MemoryState
from gateway.state.redis import RedisState
from gateway.storage import ImageStore, ObjectInfo, open_image_store

DAY = timedelta(days=1)


def png(shade: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (shade, 0, 0)).save(buffer, format="PNG")
    return buffer.getvalue()


class Clock:
    """Stands in for `time.monotonic` inside the memory state, so TTLs pass instantly."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(memory_module, "time", SimpleNamespace(monotonic=fake.monotonic))
    return fake


@pytest.fixture(params=["memory", "file", "s3"])
def images(request: pytest.FixtureRequest, tmp_path: Path) -> ImageStore:
    if request.param == "s3":
        url = f"s3://{request.getfixturevalue('s3_bucket')}/gc"
        environ = request.getfixturevalue("s3_proc").environ
        return open_image_store(StorageSettings(url=url), environ)
    url = "memory://" if request.param == "memory" else f"file://{tmp_path}/images"
    return open_image_store(StorageSettings(url=url), {})


def gc_settings(make_settings: Callable[..., Settings], **storage: object) -> Settings:
    return make_settings(storage={"retention": "30d", **storage})


async def finish_job(state: StateStore, prompt: str, image: StoredImage) -> None:
    spec = JobSpec(prompt=prompt, model="procedural", size="8x8")
    job = await state.submit(Job(new_job_id(), "demo", spec, fingerprint=prompt))
    assert await state.claim("worker", timeout=1) is not None
    result = JobResult(prompt, "procedural", "8x8", "procedural", 1, 1, Decimal(0), (image,))
    assert await state.finish(job.id, result=result)


async def test_live_images_survive_and_old_unreferenced_ones_go(
    make_settings: Callable[..., Settings], images: ImageStore, clock: Clock
) -> None:
    state = MemoryState(job_ttl=100, cache_ttl=1000)
    expired, cached, live, orphan = [await images.put(png(shade)) for shade in (1, 2, 3, 4)]
    clock.now = 0
    await finish_job(state, "expired", expired)  # job and cache entry both gone by 1020
    clock.now = 500
    await finish_job(state, "cached", cached)  # job gone by 1020, cache entry still live
    clock.now = 950
    await finish_job(state, "live", live)  # job still live at 1020
    clock.now = 1020
    assert await state.referenced_keys() == {cached.key, live.key}

    now = datetime.now(UTC) + 31 * DAY
    report = await collect_garbage(gc_settings(make_settings), state, images, now)

    assert (report.scanned, report.deleted, report.kept_referenced) == (4, 2, 2)
    assert report.freed_bytes == expired.bytes + orphan.bytes
    assert await images.head(cached.key) is not None and await images.head(live.key) is not None
    assert await images.head(expired.key) is None and await images.head(orphan.key) is None
    assert "deleted 2" in report.summary()


async def test_dry_run_reports_and_deletes_nothing(
    make_settings: Callable[..., Settings], images: ImageStore
) -> None:
    orphan = await images.put(png(9))
    now = datetime.now(UTC) + 31 * DAY
    state = MemoryState(job_ttl=100, cache_ttl=100)
    report = await collect_garbage(gc_settings(make_settings), state, images, now, dry_run=True)
    assert (report.deleted, report.freed_bytes) == (1, orphan.bytes)
    assert "would delete 1" in report.summary()
    assert await images.head(orphan.key) is not None


@pytest.mark.parametrize(
    ("storage", "age", "deleted"),
    [
        ({}, DAY, 0),  # younger than retention
        ({"retention": "1s", "gc_min_age": "1h"}, timedelta(minutes=10), 0),  # min age wins
        ({"retention": "1s", "gc_min_age": "1h"}, timedelta(hours=2), 1),
    ],
)
async def test_young_images_are_kept(
    make_settings: Callable[..., Settings],
    storage: dict[str, str],
    age: timedelta,
    deleted: int,
) -> None:
    images = open_image_store(make_settings(storage={"url": "memory://"}).storage, {})
    await images.put(png(5))
    settings = gc_settings(make_settings, **storage)
    state = MemoryState(job_ttl=100, cache_ttl=100)
    report = await collect_garbage(settings, state, images, datetime.now(UTC) + age)
    assert (report.deleted, report.kept_recent) == (deleted, 1 - deleted)


async def test_without_retention_nothing_is_deleted(make_settings: Callable[..., Settings]) -> None:
    images = open_image_store(make_settings(storage={"url": "memory://"}).storage, {})
    orphan = await images.put(png(6))
    state = MemoryState(job_ttl=100, cache_ttl=100)
    report = await collect_garbage(make_settings(), state, images, datetime.now(UTC) + 999 * DAY)
    assert report.retention is None and report.scanned == 0
    assert await images.head(orphan.key) is not None


class StaleListing(ImageStore):
    """A listing taken just before a job stored the identical image again."""

    async def list_images(self) -> AsyncIterator[ObjectInfo]:
        async for info in super().list_images():
            yield ObjectInfo(info.key, info.size, info.last_modified - 60 * DAY)


class ReferencedMeanwhile:
    """A state in which a job finishes (referencing `key`) while gc is listing."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.calls = 0

    async def referenced_keys(self) -> set[str]:
        self.calls += 1
        return set() if self.calls == 1 else {self.key}


async def test_an_image_stored_again_during_gc_is_kept(
    make_settings: Callable[..., Settings],
) -> None:
    memory = open_image_store(make_settings(storage={"url": "memory://"}).storage, {})
    images = StaleListing(memory.store, keeps_attributes=True)
    image = await images.put(png(7))
    state = MemoryState(job_ttl=100, cache_ttl=100)
    report = await collect_garbage(gc_settings(make_settings), state, images, datetime.now(UTC))
    assert (report.deleted, report.kept_recent) == (0, 1)
    assert await images.head(image.key) is not None


async def test_an_image_referenced_during_gc_is_kept(
    make_settings: Callable[..., Settings],
) -> None:
    images = open_image_store(make_settings(storage={"url": "memory://"}).storage, {})
    image = await images.put(png(8))
    state = ReferencedMeanwhile(image.key)
    now = datetime.now(UTC) + 31 * DAY
    settings = gc_settings(make_settings)
    report = await collect_garbage(settings, state, images, now)  # type: ignore[arg-type]
    assert (report.deleted, report.kept_referenced) == (0, 1)
    assert await images.head(image.key) is not None


class UnreachableState:
    async def referenced_keys(self) -> set[str]:
        raise StateUnavailable("redis is down")


async def test_an_unreachable_state_stops_gc_before_any_delete(
    make_settings: Callable[..., Settings],
) -> None:
    images = open_image_store(make_settings(storage={"url": "memory://"}).storage, {})
    orphan = await images.put(png(12))
    now = datetime.now(UTC) + 31 * DAY
    settings, state = gc_settings(make_settings), UnreachableState()
    with pytest.raises(StateUnavailable):
        await collect_garbage(settings, state, images, now)  # type: ignore[arg-type]
    assert await images.head(orphan.key) is not None


# -- the CLI ------------------------------------------------------------------------------


@pytest.fixture
def gc_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The embedded config with file storage under tmp_path and a 30-day retention."""
    root = tmp_path / "images"
    monkeypatch.delenv("IMAGEGATE_CONFIG", raising=False)
    monkeypatch.setenv("IMAGEGATE_SERVER__DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("IMAGEGATE_STORAGE__URL", f"file://{root}")
    monkeypatch.setenv("IMAGEGATE_STORAGE__RETENTION", "30d")
    return root


def test_cli_dry_run_lists_what_is_old(gc_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    images = open_image_store(StorageSettings(url=f"file://{gc_env}"), {})
    old, young = asyncio.run(images.put(png(10))), asyncio.run(images.put(png(11)))
    long_ago = time.time() - 60 * 86400
    os.utime(gc_env / old.key, (long_ago, long_ago))

    main(["gc", "--dry-run"])
    out = capsys.readouterr().out
    assert f"would delete 1 ({old.bytes} bytes)" in out and "1 recent" in out
    assert (gc_env / old.key).exists() and (gc_env / young.key).exists()


def test_cli_refuses_to_delete_with_memory_state(gc_env: Path) -> None:
    with pytest.raises(SystemExit, match="redis://"):
        main(["gc"])


def test_cli_without_retention_has_nothing_to_do(
    monkeypatch: pytest.MonkeyPatch, gc_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("IMAGEGATE_STORAGE__RETENTION")
    main(["gc"])
    assert "nothing to do" in capsys.readouterr().out


async def finish_shared_job(url: str, image: StoredImage) -> None:
    """A job another gateway process finished with `image`, on the shared state."""
    state = RedisState.from_url(url, job_ttl=3600, cache_ttl=3600, visibility_timeout=60)
    try:
        await finish_job(state, f"shared {image.key}", image)
    finally:
        await state.aclose()


def test_cli_deletes_what_no_job_on_the_shared_state_uses(
    monkeypatch: pytest.MonkeyPatch,
    gc_env: Path,
    shared_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`imagegate gc` over one Redis and over a cluster: an old image a live job holds is
    kept, an old orphan goes."""
    monkeypatch.setenv("IMAGEGATE_STATE__URL", shared_url)
    images = open_image_store(StorageSettings(url=f"file://{gc_env}"), {})
    held, orphan = asyncio.run(images.put(png(20))), asyncio.run(images.put(png(21)))
    asyncio.run(finish_shared_job(shared_url, held))
    long_ago = time.time() - 60 * 86400
    for image in (held, orphan):
        os.utime(gc_env / image.key, (long_ago, long_ago))

    main(["gc"])
    out = capsys.readouterr().out
    assert "deleted 1" in out, out
    assert (gc_env / held.key).exists() and not (gc_env / orphan.key).exists()
