"""`GET /images/jobs/{id}/events`: a job's live status as Server-Sent Events.

Events: `status` (`{"jobId", "status"}`) at each status change, `attempt` (the attempt
log entry, numbered) at each backend call, then `job` (the same document as
`GET /images/jobs/{id}`) and the stream ends; `error` (`{"code", "message"}`) ends it
early, and at a server shutdown it just ends (no `job` event). `Last-Event-ID` resumes
after the event it names. Opening the stream counts as one read against the tenant's
`poll_rate`; a missing or foreign job is `404` before it starts.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import anyio
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.live_status import LiveEvent, Seen, follow
from gateway.services import Gateway

PING_EVERY = 15  # seconds between keep-alive comments (proxies drop idle streams)
SHUTDOWN_GRACE = 2.0  # seconds a stream has to end by itself once the server stops


async def job_events(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    tenant = gateway.keyring.authenticate(request.headers)
    job_id = request.path_params["job_id"]
    await gateway.submissions.poll(tenant, job_id)  # one read against poll_rate; 404
    seen = Seen.parse(request.headers.get("last-event-id"))
    # At shutdown the stream ends cleanly (the client resumes at another process).
    stopping = anyio.Event()
    live = follow(gateway.state, gateway.events, job_id, seen, stopping)
    return EventSourceResponse(
        _rendered(gateway, live),
        ping=PING_EVERY,
        shutdown_event=stopping,
        shutdown_grace_period=SHUTDOWN_GRACE,
    )


async def _rendered(
    gateway: Gateway, live: AsyncIterator[LiveEvent]
) -> AsyncIterator[ServerSentEvent]:
    async for event in live:
        data = await gateway.present(event.job) if event.job is not None else event.data
        yield ServerSentEvent(
            json.dumps(data, separators=(",", ":")), event=event.kind, id=event.id
        )


routes = [Route("/images/jobs/{job_id}/events", job_events, methods=["GET"])]
