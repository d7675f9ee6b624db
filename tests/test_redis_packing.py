"""Commands packed by hiredis in one call (gateway/state/redis_packing.py): the same bytes
on the wire as redis-py's own packer, its errors kept, and installed where it is meant to be."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio.connection import Connection
from redis.exceptions import DataError

from gateway.state.redis_client import connect
from gateway.state.redis_packing import HiredisPacker

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


async def test_a_one_node_client_packs_with_hiredis(redis_url: str) -> None:
    client = connect(redis_url, coalesce=True)
    try:
        await client.set("packing:text", "a lighthouse ☀")
        await client.set("packing:number", 0.1)
        assert await client.get("packing:text") == "a lighthouse ☀".encode()
        assert await client.get("packing:number") == b"0.1"
        connection = await client.connection_pool.get_connection()
        try:
            assert isinstance(connection._command_packer, HiredisPacker)
        finally:
            await client.connection_pool.release(connection)
    finally:
        await client.aclose()
