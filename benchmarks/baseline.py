"""The baseline: a bare Starlette app served exactly the way `imagegate serve` serves.

It answers the job API's shapes (a JSON POST read and parsed, a JSON GET) with a constant
body, so a gateway figure divided by the baseline's isolates what the gateway's own code
costs above the framework, the server and the load generator on this machine.

    python -m benchmarks.baseline --port 8123 --log-level info
"""

from __future__ import annotations

import argparse
import json
import logging

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def submit(request: Request) -> JSONResponse:
    body = json.loads(await request.body())  # the gateway parses every body too
    job = {"jobId": "job_baseline", "status": "PENDING", "cached": False}
    return JSONResponse(
        {"ok": True, "data": job},
        status_code=202,
        headers={"Location": f"/images/jobs/{job['jobId']}", "X-Prompt-Chars": str(len(body))},
    )


async def generations(request: Request) -> JSONResponse:
    """OpenAI's answer shape, constant: what `POST /v1/images/generations` is divided by."""
    body = json.loads(await request.body())
    url = "http://127.0.0.1/files/images/baseline.png?exp=0&sig=0"
    return JSONResponse(
        {"created": 0, "data": [{"url": url}], "size": body.get("size", "64x64")},
        headers={"X-Imagegate-Job-Id": "job_baseline"},
    )


async def get_job(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True, "data": {"id": request.path_params["job_id"]}})


def create_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/images/jobs", submit, methods=["POST"]),
            Route("/images/jobs/{job_id}", get_job, methods=["GET"]),
            Route("/v1/images/generations", generations, methods=["POST"]),
        ]
    )


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--port", type=int, required=True)
    args.add_argument("--log-level", default="info")
    options = args.parse_args(argv)
    # The same logging set-up and uvicorn arguments as gateway/cli.py `_serve`.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    print(f"baseline listening on http://127.0.0.1:{options.port}", flush=True)
    uvicorn.run(
        create_app(),
        host="127.0.0.1",
        port=options.port,
        log_level=options.log_level,
        proxy_headers=False,
        server_header=False,
    )


if __name__ == "__main__":
    main()
