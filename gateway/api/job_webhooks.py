"""`POST /images/jobs/{id}/webhook`: deliver an ended job's webhook again (adapter over
Submissions.redeliver_webhook)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.api.envelope import ok
from gateway.api.presenters import present_webhook
from gateway.services import Gateway


async def redeliver(request: Request) -> JSONResponse:
    gateway: Gateway = request.app.state.gateway
    tenant = gateway.keyring.authenticate(request.headers)
    job = await gateway.submissions.redeliver_webhook(tenant, request.path_params["job_id"])
    return ok({"jobId": job.id, "webhook": present_webhook(job.webhook)}, status=202)


routes = [Route("/images/jobs/{job_id}/webhook", redeliver, methods=["POST"])]
