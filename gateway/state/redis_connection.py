"""redis-py's connection with two costs of every command taken out.

redis-py spends most of a command's CPU in Python around the bytes, and two parts of that
are pure overhead here:

- **Packing.** It hands hiredis each command only after encoding every argument in Python
  (`Encoder.encode`, one call per argument, in a generator): 18 of the 21 us a submit
  script's dozen arguments took to pack. hiredis encodes what the stores send by itself
  (str as UTF-8, bytes, int, float as `repr` writes it), so `HiredisPacker` gives it the
  arguments as they are; what it does not take (a memoryview, an unsupported type) goes to
  redis-py's own packer, which packs it or raises redis-py's `DataError` as before.
- **Writing.** It bounds each write by `asyncio.wait_for`, which on Python 3.11 wraps the
  write in a task of its own: about 19 us of a 90 us command. `LeanWrites` bounds it by
  `asyncio.timeout` instead (no task), with redis-py's handling of a failed write: the
  connection is dropped and the same `TimeoutError` or `ConnectionError` raised.

Installed on a one-node client's pool (`lean_connections`); a cluster client builds its
nodes' connections itself and keeps redis-py's.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Iterable
from typing import Any, Protocol

import hiredis
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError, TimeoutError
from redis.utils import is_os_level_timeout


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


class LeanWrites(AbstractConnection):
    """A connection packing with `HiredisPacker` and writing without a task per write
    (mixed into the pool's own connection class by `lean_connections`)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        own = self._command_packer
        if own is not None:  # None: no hiredis, redis-py packs in Python
            # Not redis-py's class, but its interface: `pack(*args) -> list[bytes]`.
            self._command_packer = HiredisPacker(own)  # type: ignore[assignment]

    async def send_packed_command(
        self, command: bytes | str | Iterable[bytes], check_health: bool = True
    ) -> None:
        if not self.is_connected or not isinstance(command, list) or not self.socket_timeout:
            await super().send_packed_command(command, check_health)  # connects first
            return
        if check_health:
            await self.check_health()
        try:
            async with asyncio.timeout(self.socket_timeout):
                await self._send_packed_command(command)
        except builtins.TimeoutError as exc:  # asyncio's (an OSError); redis-py's is imported
            await self.disconnect(nowait=True)
            if is_os_level_timeout(exc):  # ETIMEDOUT: the connection is dead, not slow
                raise ConnectionError(f"Error {exc.errno} while writing to socket.") from exc
            raise TimeoutError("Timeout writing to socket") from None
        except OSError as exc:
            await self.disconnect(nowait=True)
            raise ConnectionError(f"Error while writing to socket. {exc}.") from exc
        except BaseException:
            # A write cut short (cancelled) leaves the stream mid-command: drop it.
            await self.disconnect(nowait=True)
            raise


def _lean(connection_class: type[AbstractConnection]) -> type[AbstractConnection]:
    name = f"Lean{connection_class.__name__}"
    return type(name, (LeanWrites, connection_class), {"__qualname__": name})


def lean_connections(client: Redis) -> Redis:
    """The client, its pool's new connections `LeanWrites`."""
    pool = client.connection_pool
    pool.connection_class = _lean(pool.connection_class)
    return client
