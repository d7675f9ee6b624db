"""`[state] replica_acks`: a submit is answered only once that many replicas have it.

Redis replicates asynchronously: a master that acknowledged a write and crashed an instant
later takes the write with it when its replica is promoted, so a job answered `202` can be
gone. With `replica_acks = N` the submit script and `WAIT N <timeout>` go out in one
pipeline on one connection (on a cluster, to the node serving the state's slot): WAIT
counts the replicas that have every write *of that connection*, so it covers exactly the
submit before it. (A WAIT on any other connection, an operator's included, returns at once:
its own connection wrote nothing.)

When fewer replicas acknowledge within `replica_ack_timeout` (a replica down or lagging),
the job stands on the master and is answered as accepted, as Redis itself would leave it:
refusing it would turn a job that exists and will run into an error. The shortfall is
logged (at most once a minute) so that an operator sees the guarantee is not held.

Only the submit waits: later writes (a start, an attempt, an ending) that a crash loses are
redone from what the replica has, because the queue is at-least-once (the job's delivery
is still pending there, and its reclaim runs the job again).
"""

from __future__ import annotations

import logging
import time
from typing import Any, cast

from redis.asyncio.cluster import RedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from gateway.state.redis_client import Client

log = logging.getLogger("imagegate.state")

WARN_EVERY = 60.0  # seconds between two warnings of unacknowledged submits


class ReplicaAcks:
    def __init__(self, client: Client, wanted: int, timeout: float) -> None:
        self.client = client
        self.wanted = wanted  # 0: Redis's default, nothing waited for
        self.timeout_ms = max(1, round(timeout * 1000))
        self.short = 0  # submits acknowledged by fewer replicas, since the last warning
        self._warned = -WARN_EVERY

    async def run(self, script: AsyncScript, keys: list[str], args: list[Any]) -> Any:
        """The script's reply, once `wanted` replicas have its writes or the timeout passed.
        A Redis that lost its script cache gets the source by EVAL (as `RedisState._run`)."""
        argv = [len(keys), *keys, *args]
        reply, acked = await self._acked(keys[0], "EVALSHA", script.sha, *argv)
        if isinstance(reply, NoScriptError):
            reply, acked = await self._acked(keys[0], "EVAL", cast(str, script.script), *argv)
        if isinstance(reply, Exception):
            raise reply
        if acked < self.wanted:
            self._shortfall(acked)
        return reply

    async def _acked(self, key: str, *command: Any) -> tuple[Any, int]:
        wait = ("WAIT", self.wanted, self.timeout_ms)
        pipe = self.client.pipeline(transaction=False)
        pipe.execute_command(*command)
        if isinstance(self.client, RedisCluster):  # WAIT has no key: name the write's node
            pipe.execute_command(*wait, target_nodes=self.client.get_node_from_key(key))
        else:
            pipe.execute_command(*wait)
        reply, acked = await pipe.execute(raise_on_error=False)
        return reply, 0 if isinstance(acked, Exception) else int(acked)

    def _shortfall(self, acked: int) -> None:
        self.short += 1
        now = time.monotonic()
        if now - self._warned >= WARN_EVERY:
            log.warning(
                "%d submit(s) accepted with fewer replicas than [state] replica_acks = %d "
                "(this one: %d within %d ms): a master lost now would lose them",
                self.short,
                self.wanted,
                acked,
                self.timeout_ms,
            )
            self.short = 0
            self._warned = now
