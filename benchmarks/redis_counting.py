"""Count what the gateway sends to Redis, from inside one process, without MONITOR.

While a `RedisCounter` is active, every redis-py asyncio connection reports each round
trip (one write, `_send_packed_command`: a command, or a whole pipeline; the gateway's own
connections, gateway/state/redis_connection.py, send through it too) and each command it
packs. EVALSHA is named by script (`state.submit`, `limits.acquire_moving_window`, ...)
from the scripts the gateway registered, since the SHA alone says nothing to a reader.
Counts are kept per role, a context variable: tasks created while it says "worker" (the
worker pool's loops) keep that role, so worker traffic never mixes with request traffic.
"""

from __future__ import annotations

from collections import Counter
from contextvars import ContextVar
from types import TracebackType
from typing import Any

from redis.asyncio.connection import AbstractConnection
from redis.commands.core import AsyncScript

ROLE: ContextVar[str] = ContextVar("benchmark_redis_role", default="api")


def script_names(roots: dict[str, object]) -> dict[str, str]:
    """SHA -> "<root>.<attribute>" for every registered script found on `roots` (one
    level down too, for `limits`' storage bridge)."""
    names: dict[str, str] = {}
    for label, root in roots.items():
        for owner in (root, getattr(root, "bridge", None)):
            for attribute, value in getattr(owner, "__dict__", {}).items():
                if isinstance(value, AsyncScript) and value.sha:
                    names[value.sha] = f"{label}.{attribute.lstrip('_').removeprefix('lua_')}"
    return names


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisCounter:
    """Patches redis-py's asyncio connection class for the duration of a `with` block."""

    def __init__(self) -> None:
        self.scripts: dict[str, str] = {}
        self.round_trips: Counter[str] = Counter()  # role -> count
        self.commands: Counter[tuple[str, str]] = Counter()  # (role, command) -> count
        self._saved: dict[str, Any] = {}

    def reset(self) -> None:
        self.round_trips.clear()
        self.commands.clear()

    def _name(self, args: tuple[Any, ...]) -> str:
        name = _text(args[0]).upper()
        if name in ("EVALSHA", "EVALSHA_RO") and len(args) > 1:
            sha = _text(args[1])
            return f"EVALSHA {self.scripts.get(sha, sha[:10])}"
        return name

    def __enter__(self) -> RedisCounter:
        counter = self
        pack = self._saved["pack_command"] = AbstractConnection.pack_command
        send = self._saved["_send_packed_command"] = AbstractConnection._send_packed_command

        def pack_command(connection: AbstractConnection, *args: Any) -> Any:
            counter.commands[(ROLE.get(), counter._name(args))] += 1
            return pack(connection, *args)

        async def write(connection: AbstractConnection, command: Any) -> None:
            counter.round_trips[ROLE.get()] += 1
            await send(connection, command)

        setattr(AbstractConnection, "pack_command", pack_command)  # noqa: B010
        setattr(AbstractConnection, "_send_packed_command", write)  # noqa: B010
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for attribute, original in self._saved.items():
            setattr(AbstractConnection, attribute, original)
