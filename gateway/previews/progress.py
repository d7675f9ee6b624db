"""The `Progress` a worker hands a backend: partial images become stored, announced previews.

A preview is best effort: one that cannot be stored or recorded is logged and dropped, and
the attempt goes on (the final image is what the job is for).
"""

from __future__ import annotations

import logging
from collections import Counter

from backends.base import GeneratedImage
from backends.imaging import NotAnImage
from gateway.events.base import Changed
from gateway.previews.base import Preview, PreviewStore
from gateway.state.base import StateUnavailable
from gateway.storage import ImageStore, StorageUnavailable

log = logging.getLogger("imagegate.previews")


class JobProgress:
    def __init__(
        self,
        job_id: str,
        output_format: str,
        images: ImageStore,
        previews: PreviewStore,
        changed: Changed,
    ) -> None:
        self.job_id = job_id
        self.output_format = output_format
        self.images = images
        self.previews = previews
        self.changed = changed
        self._sent: Counter[int] = Counter()  # previews so far, per image

    async def submitted(self, handle: str) -> None:
        return None

    async def partial(self, index: int, image: GeneratedImage) -> None:
        try:
            stored = await self.images.put(image.data, self.output_format)
            preview = Preview(index, self._sent[index], stored.key)
            await self.previews.add(self.job_id, preview)
        except (NotAnImage, StorageUnavailable, StateUnavailable) as exc:
            log.warning("job %s: a partial image was dropped (%s)", self.job_id, exc)
            return
        self._sent[index] += 1
        await self.changed([self.job_id])
