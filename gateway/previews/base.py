"""Partial images a streaming vendor sent while a job ran, for `/v1` streams to pass on.

The worker running the job stores each preview's bytes in object storage (by sha256, like
any image) and appends a `Preview` naming it under the executing job's id, then publishes
the job's change: a waiting `/v1` stream, in whichever process, reads the previews it has
not sent yet. Previews are kept for `TTL` seconds; they are never part of a result.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Protocol

TTL = 3600.0  # a stream reads them while the job runs; an hour covers any wait limit


@dataclass(frozen=True)
class Preview:
    image: int  # which of the job's images (0-based)
    index: int  # the vendor's `partial_image_index`
    key: str  # the object-storage key of its bytes

    def to_json(self) -> str:
        return json.dumps({"image": self.image, "index": self.index, "key": self.key})

    @classmethod
    def from_json(cls, text: str | bytes) -> Preview:
        data = json.loads(text)
        return cls(int(data["image"]), int(data["index"]), str(data["key"]))


class PreviewStore(Protocol):
    async def add(self, job_id: str, preview: Preview) -> None:
        """Append a preview of the job's execution."""
        ...

    async def since(self, job_id: str, start: int) -> list[Preview]:
        """The execution's previews from position `start` on, oldest first."""
        ...

    async def aclose(self) -> None: ...
