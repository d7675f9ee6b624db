"""A one-node Redis client that sends the commands issued together in one write.

redis-py sends each command on its own: a connection taken from the pool, one `write`
system call, a timed read, the connection given back; in-process that is most of a
command's CPU. `CoalescingRedis` lets the first command of a turn of the event loop wait
that one turn: every command issued meanwhile (the two windows of a rate rule checked
together, other requests' checks) joins it, and they go out as one pipeline (one
connection, one write, the replies read in order); a command issued alone goes out as
before, one turn later.

Why nothing changes but the cost: the commands of a batch were issued concurrently, so
Redis could already have run them in any order; each still runs on its own (a pipeline
without MULTI), each script atomically, in the order they were issued. Each caller gets
its own reply or its own error (a script's NOSCRIPT too, which redis-py's `Script` then
handles as usual); a failure of the connection fails every command of the batch, after
the same one retry of the whole write that a lone command gets (`quick_retry`). A caller
cancelled while it waits gives up its reply only: the batch is sent for the others.

Used where a store issues short independent commands and never a blocking one (a blocking
command would hold up the rest of its batch): the `limits` storage and the state's
command client on `redis://` (the state's blocking reads have a client of their own). A
cluster client routes each command to its node, so `redis+cluster://` keeps redis-py's
own client.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis


@dataclass(frozen=True)
class _Queued:
    args: tuple[Any, ...]
    options: dict[str, Any]
    reply: asyncio.Future[Any]


class CoalescingRedis(Redis):
    """`redis.asyncio.Redis` whose commands issued in one turn of the loop share a write."""

    _gathering: list[_Queued] | None = None  # the batch of this turn, while it gathers
    _sending: set[asyncio.Task[None]] | None = None  # batches being sent (kept referenced)

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        gathering = self._gathering
        if gathering is not None:
            reply: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            gathering.append(_Queued(args, options, reply))
            return await reply
        batch: list[_Queued] = []
        self._gathering = batch
        try:
            await asyncio.sleep(0)  # one turn: what is issued meanwhile joins this command
        except BaseException:  # cancelled: the others' commands still go
            self._gathering = None
            if batch:
                self._send(batch)
            raise
        self._gathering = None
        if not batch:
            return await super().execute_command(*args, **options)
        first = _Queued(args, options, asyncio.get_running_loop().create_future())
        self._send([first, *batch])
        return await first.reply

    def _send(self, batch: list[_Queued]) -> None:
        """Send `batch` as one pipeline in a task of its own: a caller that is cancelled
        meanwhile stops only its own wait."""
        if self._sending is None:
            self._sending = set()
        task = asyncio.get_running_loop().create_task(self._pipelined(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _pipelined(self, batch: list[_Queued]) -> None:
        pipe = self.pipeline(transaction=False)
        for queued in batch:
            pipe.execute_command(*queued.args, **queued.options)
        try:
            replies = await pipe.execute(raise_on_error=False)
        except Exception as exc:  # the connection failed (after its retry): for everyone
            for queued in batch:
                if not queued.reply.done():
                    queued.reply.set_exception(exc)
            return
        except BaseException:  # this task was cancelled (the loop is closing)
            for queued in batch:
                queued.reply.cancel()
            raise
        for queued, reply in zip(batch, replies, strict=True):
            if queued.reply.done():  # its caller was cancelled
                continue
            if isinstance(reply, Exception):
                queued.reply.set_exception(reply)
            else:
                queued.reply.set_result(reply)
