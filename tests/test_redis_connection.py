"""redis-py's connection with less overhead (gateway/state/redis_connection.py): commands
packed by hiredis in one call, the same bytes on the wire as redis-py's own packer, its
errors kept; writes bounded without a task, a write that cannot finish in time failing as
redis-py's would; installed where it is meant to be."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
import redis.asyncio as aioredis
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio.connection import Connection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.driver_info import DriverInfo
from redis.exceptions import ConnectionError, DataError, TimeoutError

from gateway.state.redis_client import connect
from gateway.state.redis_connection import HiredisPacker, LeanWrites, lean_connections

ARGUMENT = st.one_of(
    st.text(), st.binary(), st.integers(), st.floats(allow_nan=False, allow_infinity=False)
)


def redis_py() -> Connection:
    """A connection with redis-py's packer (never connected: packing needs no socket)."""
    return Connection()


@given(st.lists(ARGUMENT, max_size=12))
def test_a_command_is_packed_as_redis_py_packs_it(arguments: list[Any]) -> None:
    theirs = redis_py()
    ours = HiredisPacker(theirs._command_packer)
    for name in ("EVALSHA", b"EVALSHA", "CLIENT SETNAME", b"SCRIPT LOAD"):
        command = (name, *arguments)
        assert b"".join(ours.pack(*command)) == b"".join(theirs.pack_command(*command))


def test_what_hiredis_does_not_take_goes_to_redis_py() -> None:
    ours = HiredisPacker(redis_py()._command_packer)
    assert b"".join(ours.pack("SET", "k", memoryview(b"view"))).endswith(b"$4\r\nview\r\n")
    with pytest.raises(DataError):
        ours.pack("SET", "k", object())


async def test_a_one_node_client_has_lean_connections(redis_url: str) -> None:
    client = connect(redis_url, coalesce=True)
    try:
        await client.set("packing:text", "a lighthouse ☀")
        await client.set("packing:number", 0.1)
        assert await client.get("packing:text") == "a lighthouse ☀".encode()
        assert await client.get("packing:number") == b"0.1"
        connection = await client.connection_pool.get_connection()
        try:
            assert isinstance(connection, LeanWrites)
            assert isinstance(connection._command_packer, HiredisPacker)
        finally:
            await client.connection_pool.release(connection)
    finally:
        await client.aclose()


async def failure(lean: bool, handler: Any) -> type[BaseException]:
    """What a SET to a misbehaving server raises, through a lean connection or redis-py's."""
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    options: dict[str, Any] = {"driver_info": DriverInfo(name="", lib_version="")}
    client = aioredis.Redis(port=port, socket_timeout=0.3, retry=Retry(NoBackoff(), 0), **options)
    if lean:
        lean_connections(client)
    try:
        await client.set("k", b"x" * 1_000_000)
    except Exception as exc:
        return type(exc)  # (the text may differ: a reset seen by the read, or the close)
    finally:
        await client.aclose()
        server.close()
    raise AssertionError("the SET did not fail")


async def deaf(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.sleep(5)
    writer.close()


async def hangs_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


@pytest.mark.parametrize("handler", [deaf, hangs_up], ids=["no answer", "closed"])
async def test_a_failing_server_fails_a_command_as_redis_py_would(handler: Any) -> None:
    lean, stock = await failure(True, handler), await failure(False, handler)
    assert lean is stock
    assert issubclass(lean, TimeoutError | ConnectionError)
