"""Every key name of the state, built in one place (Redis keys; memory:// budget counters).

Keys (prefix `ig`; `{...}` is a Redis Cluster hash tag), and how long they live:

    ig:{<job id>}:job            the job: `Job.to_json`, "spec" last           job_ttl
    ig:{<job id>}:followers      LIST of the jobs following its execution      job_ttl
    ig:{<job id>}:entry          id of the job's current stream entry          job_ttl
    ig:cache:{<fingerprint>}     a result: JSON of `JobResult`                 cache_ttl
    ig:inflight:{<fingerprint>}  id of the job executing the fingerprint       job_ttl
    ig:tenant:{<name>}:active    ZSET of the tenant's PENDING/RUNNING job ids, scored
                                 by the job's expiry (pruned when counted)
    ig:tenant:{<name>}:jobs      ZSET of the tenant's job ids scored by creation (ms):
                                 the listing index, pruned past job_ttl
    ig:budget:{<name>}:<period>:<window>  micro-dollars spent in a budget window
    ig:queue                     STREAM of {job: <id>}, consumer group `workers`
    ig:deferred                  ZSET of deferred job ids scored by their not-before
                                 time (ms); moved to the stream once due, dropped when
                                 the job ends first (a cancel, its deadline)
    ig:capacity:{<backend>}      ZSET of the leases on a backend's global concurrency
                                 slots scored by expiry (ms), pruned at each take
    ig:deadlines                 ZSET of active job ids scored by their deadline (ms):
                                 the deadline sweep's work; entries leave as jobs end
    ig:outbox                    ZSET of ended job ids whose webhook event is due, scored
                                 by when (ms): kept equal to each job's `webhook` by `save`

Scripts receive every key they can name up front through KEYS. Keys that only Redis can
name (the followers of a leader it just read, their tenants' sets) are built inside Lua
from `templates()`, still from this module; so are the fixed keys every job write may
touch (`deadlines`, `deferred`, `outbox`), handed to every script in its context. Each name is
`head + tag(id) + tail`, so moving to Redis Cluster means changing `tag` (e.g. to a
queue shard carried in the job id) here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    prefix: str = "ig"

    @staticmethod
    def tag(name: str) -> str:
        """The hash tag of a name. Today each job, fingerprint and tenant is its own tag."""
        return "{" + name + "}"

    def job(self, job_id: str) -> str:
        return f"{self.prefix}:{self.tag(job_id)}:job"

    def followers(self, job_id: str) -> str:
        return f"{self.prefix}:{self.tag(job_id)}:followers"

    def entry(self, job_id: str) -> str:
        return f"{self.prefix}:{self.tag(job_id)}:entry"

    def cache(self, fingerprint: str) -> str:
        return f"{self.prefix}:cache:{self.tag(fingerprint)}"

    def inflight(self, fingerprint: str) -> str:
        return f"{self.prefix}:inflight:{self.tag(fingerprint)}"

    def active(self, tenant: str) -> str:
        return f"{self.prefix}:tenant:{self.tag(tenant)}:active"

    def index(self, tenant: str) -> str:
        return f"{self.prefix}:tenant:{self.tag(tenant)}:jobs"

    def budget(self, tenant: str, period: int, window: int) -> str:
        return f"{self.prefix}:budget:{self.tag(tenant)}:{period}:{window}"

    @property
    def queue(self) -> str:
        return f"{self.prefix}:queue"

    @property
    def outbox(self) -> str:
        return f"{self.prefix}:outbox"

    @property
    def deferred(self) -> str:
        return f"{self.prefix}:deferred"

    def capacity(self, backend: str) -> str:
        return f"{self.prefix}:capacity:{self.tag(backend)}"

    @property
    def deadlines(self) -> str:
        return f"{self.prefix}:deadlines"

    def patterns(self) -> tuple[str, str]:
        """SCAN patterns of job documents and cached results (for gc only)."""
        return f"{self.prefix}:{{*}}:job", f"{self.prefix}:cache:*"

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
        }
        return {name: build(marker).split(marker) for name, build in builders.items()}
