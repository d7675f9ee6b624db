"""Every key name of the Redis stores, built in one place (memory:// budget counters too).

One layout on one Redis and on Redis Cluster. `{...}` is a hash tag: Cluster places a key by
the hash of its tag alone, so keys with the same tag share a slot (and a node).

**The job state lives in one slot.** Every key a state script touches carries the prefix's
own tag, `{ig}`, so every script (submit, take, start, finish, cancel, requeue, defer, the
outbox claim, the deadline sweep) is one atomic step on one node, exactly as on one Redis:

    ig:{ig}:job:<job id>          the job: `Job.to_json`, "spec" last           job_ttl
    ig:{ig}:followers:<job id>    LIST of the jobs following its execution      job_ttl
    ig:{ig}:entry:<job id>        id of the job's current stream entry          job_ttl
    ig:{ig}:cache:<fingerprint>   a result: JSON of `JobResult`                 cache_ttl
    ig:{ig}:inflight:<fingerprint> id of the job executing the fingerprint      job_ttl
    ig:{ig}:active:<tenant>       ZSET of the tenant's PENDING/RUNNING job ids, scored by
                                  the job's expiry (pruned when counted)
    ig:{ig}:jobs:<tenant>         ZSET of the tenant's job ids scored by creation (ms): the
                                  listing index, pruned past job_ttl
    ig:{ig}:budget:<tenant>:<period>:<window>  micro-dollars spent in a budget window
    ig:{ig}:queue                 STREAM of {job: <id>}, consumer group `workers`
    ig:{ig}:deferred              ZSET of deferred job ids scored by their not-before (ms);
                                  dropped when the job ends first (a cancel, its deadline)
    ig:{ig}:deadlines             ZSET of active job ids scored by their deadline (ms)
    ig:{ig}:outbox                ZSET of ended job ids whose webhook event is due (ms)
    ig:{ig}:usage:...             usage records (one script per batch; usage/redis.py)
    ig:{ig}:events:<job id>       the job's change channel (sharded pub/sub: SPUBLISH on
                                  the node that wrote the change, by the script that
                                  wrote it for starts, attempts and endings)

Why one slot: the guarantees are cross-key. A submit checks the cache, joins the in-flight
execution (its leader's followers list), counts the tenant's active jobs against its cap,
reserves from the tenant's budget and enqueues, all or nothing; a finish ends the leader and
every follower (whose tenants' sets Lua names only once it read them), settles each one's
budget, caches the result and acks the queue, and only while the finishing worker still
holds the delivery that `entry` names (so a reclaimed job's billed attempts all land on
it). Split over slots, each of those would become a multi-step protocol with its own
failure cases; in one slot each stays one script, so the exact quotas, concurrency caps,
budgets, single-flight, at-least-once queue with reclaim, idempotent submit and
compare-and-set finish hold on a cluster exactly as on one node.

What a cluster gives then: failover (a replica of the slot's master is promoted), and room
for everything that needs no cross-key step, spread by its own tag over the other masters:
rate-limit windows (the `limits` library's keys, one per tenant and window), idempotency
records, batches, previews, backend capacity leases:

    ig:idem:{<tenant>}:<sha256>   ig:batch:{<batch id>}   ig:previews:{<job id>}
    ig:capacity:{<backend>}

What it does not give is sharding of the job state: one master carries every job write. A
sharded layout would tag by queue shard, `{ig:<q>}` with `q = hash(fingerprint) % N`
carried in the job id: a fingerprint's jobs (leader, followers, cache and in-flight
entries) share a shard, workers read N streams, a tenant's active set and budget counters
become one per shard (the cap and the budget split into per-shard allowances, or checked by
a two-step reserve-then-confirm whose steps are each idempotent), and a follower's tenant
sets stay in its shard. That is future work; this layout is the exact one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    prefix: str = "ig"

    @property
    def slot(self) -> str:
        """The head of every key in the state's one slot: `ig:{ig}`."""
        return f"{self.prefix}:{{{self.prefix}}}"

    def own(self, kind: str, name: str) -> str:
        """A key in its own slot (a store that needs no cross-key step): `ig:kind:{name}`."""
        return f"{self.prefix}:{kind}:{{{name}}}"

    def job(self, job_id: str) -> str:
        return f"{self.slot}:job:{job_id}"

    def followers(self, job_id: str) -> str:
        return f"{self.slot}:followers:{job_id}"

    def entry(self, job_id: str) -> str:
        return f"{self.slot}:entry:{job_id}"

    def cache(self, fingerprint: str) -> str:
        return f"{self.slot}:cache:{fingerprint}"

    def inflight(self, fingerprint: str) -> str:
        return f"{self.slot}:inflight:{fingerprint}"

    def active(self, tenant: str) -> str:
        return f"{self.slot}:active:{tenant}"

    def index(self, tenant: str) -> str:
        return f"{self.slot}:jobs:{tenant}"

    def budget(self, tenant: str, period: int, window: int) -> str:
        return f"{self.slot}:budget:{tenant}:{period}:{window}"

    @property
    def queue(self) -> str:
        return f"{self.slot}:queue"

    @property
    def outbox(self) -> str:
        return f"{self.slot}:outbox"

    @property
    def deferred(self) -> str:
        return f"{self.slot}:deferred"

    @property
    def deadlines(self) -> str:
        return f"{self.slot}:deadlines"

    def events(self, job_id: str) -> str:
        return f"{self.slot}:events:{job_id}"

    def usage(self, tail: str) -> str:
        return f"{self.slot}:usage:{tail}"

    def capacity(self, backend: str) -> str:
        return self.own("capacity", backend)

    def idempotency(self, scope: str, digest: str) -> str:
        return f"{self.own('idem', scope)}:{digest}"

    def batch(self, batch_id: str) -> str:
        return self.own("batch", batch_id)

    def previews(self, job_id: str) -> str:
        return self.own("previews", job_id)

    def patterns(self) -> tuple[str, str]:
        """SCAN patterns of job documents and cached results (for gc only)."""
        return f"{self.slot}:job:*", f"{self.slot}:cache:*"

    def templates(self) -> dict[str, list[str]]:
        """[head, tail] of each per-id name, for the scripts to complete with an id."""
        marker = "\x00"
        builders = {
            "job": self.job,
            "followers": self.followers,
            "entry": self.entry,
            "cache": self.cache,
            "inflight": self.inflight,
            "active": self.active,
            "events": self.events,
        }
        return {name: build(marker).split(marker) for name, build in builders.items()}
