"""Batches: many job bodies admitted at once, each on its own, under one batch id.

The batch record keeps, for each item in order, the id of the job it became or the
refusal it got; the jobs themselves live in the state store like any other job (so a
batch's job is polled, streamed and cancelled like one submitted alone).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from gateway.jobs import JobError

MAX_ITEMS = 100


def new_batch_id() -> str:
    return "batch_" + secrets.token_hex(12)


@dataclass(frozen=True)
class BatchItem:
    """One item: the job it became, or why it was refused."""

    job_id: str | None = None
    refusal: JobError | None = None


@dataclass(frozen=True)
class Batch:
    id: str
    tenant: str
    created_at: datetime
    items: tuple[BatchItem, ...]

    @property
    def job_ids(self) -> list[str]:
        return [item.job_id for item in self.items if item.job_id is not None]

    def to_json(self) -> str:
        return json.dumps(
            {
                "id": self.id,
                "tenant": self.tenant,
                "created_at": self.created_at.isoformat(),
                "items": [
                    {"job": item.job_id}
                    if item.job_id is not None
                    else {"code": item.refusal.code, "message": item.refusal.message}
                    if item.refusal is not None
                    else {}
                    for item in self.items
                ],
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, doc: str | bytes) -> Batch:
        data: dict[str, Any] = json.loads(doc)
        return cls(
            id=data["id"],
            tenant=data["tenant"],
            created_at=datetime.fromisoformat(data["created_at"]),
            items=tuple(
                BatchItem(job_id=item["job"])
                if "job" in item
                else BatchItem(refusal=JobError(item["code"], item["message"]))
                for item in data["items"]
            ),
        )


class BatchStore(Protocol):
    async def put(self, batch: Batch, ttl: float) -> None:
        """Keep the batch for `ttl` seconds (its jobs' lifetime)."""
        ...

    async def get(self, batch_id: str) -> Batch | None: ...

    async def aclose(self) -> None: ...
