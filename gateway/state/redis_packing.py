"""Commands packed into Redis's protocol by hiredis in one call.

redis-py hands hiredis each command only after encoding every argument in Python
(`Encoder.encode`, one call per argument, in a generator): on a submit, whose script takes
a dozen arguments, that was about a tenth of the gateway's CPU for the request. hiredis
encodes what the stores send by itself (str as UTF-8, bytes, int, float as `repr` does),
so `HiredisPacker` gives it the arguments as they are. Anything it does not take (a
memoryview, an unsupported type) goes to redis-py's own packer, which packs it or raises
redis-py's `DataError` as before.

Installed on a one-node client's pool (`pack_with_hiredis`); a cluster client builds its
nodes' connections itself and keeps redis-py's packer.
"""

from __future__ import annotations

from typing import Any, Protocol

import hiredis
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection


class _Packer(Protocol):
    def pack(self, *args: Any) -> list[bytes]: ...


class HiredisPacker:
    """`pack(*args)` as redis-py's packer answers it: the command's bytes, in a list."""

    def __init__(self, fallback: _Packer) -> None:
        self._fallback = fallback

    def pack(self, *args: Any) -> list[bytes]:
        name = args[0]
        # A command named in two words ("CLIENT SETNAME") is two arguments on the wire.
        if isinstance(name, str):
            if " " in name:
                args = (*name.split(), *args[1:])
        elif b" " in name:
            args = (*name.split(), *args[1:])
        try:
            return [hiredis.pack_command(args)]
        except TypeError:
            return self._fallback.pack(*args)


def _packing(connection_class: type[AbstractConnection]) -> type[AbstractConnection]:
    """`connection_class` whose connections pack with `HiredisPacker`."""

    class Packing(connection_class):  # type: ignore[valid-type,misc]
        def __init__(self, **options: Any) -> None:
            super().__init__(**options)
            own: _Packer | None = getattr(self, "_command_packer", None)
            if own is not None:  # None: no hiredis, redis-py packs in Python
                self._command_packer = HiredisPacker(own)

    Packing.__name__ = Packing.__qualname__ = f"Packing{connection_class.__name__}"
    return Packing


def pack_with_hiredis(client: Redis) -> Redis:
    """The client, its pool's new connections packing with `HiredisPacker`."""
    pool = client.connection_pool
    pool.connection_class = _packing(pool.connection_class)
    return client
