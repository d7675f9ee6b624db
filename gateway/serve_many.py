"""`imagegate serve --workers N`: N API processes sharing one port.

uvicorn's supervisor binds the port once and starts N child processes that accept on it
(the kernel spreads connections between them) and restarts any that dies. Each child
builds its own app from the environment the parent hands down (`IMAGEGATE_CONFIG` and the
`IMAGEGATE_*` overrides of the command line), so each has its own Redis pools, HTTP
clients and metrics. In-process workers are split: `workers.concurrency` stays the host's
figure and each child runs its share, ⌈concurrency / N⌉.

Only with shared state (`redis://`): `memory://` keeps jobs, the queue and the cache inside
one process, so a second process would answer 404 for the first one's jobs.
"""

from __future__ import annotations

import math
import os

from starlette.applications import Starlette

from gateway.settings import CONFIG_ENV, Settings, load_settings

FACTORY = "gateway.serve_many:app_from_environment"


def refusal(settings: Settings, processes: int) -> str | None:
    """Why `--workers processes` cannot run with these settings (None: it can)."""
    if processes < 1:
        return f"--workers must be at least 1, got {processes}"
    if processes > 1 and settings.state.url.startswith("memory:"):
        return (
            f"--workers {processes} needs state shared between processes (state.url = "
            "redis://...): memory:// keeps jobs, queue and cache inside one process, so it "
            "runs with one"
        )
    return None


def share(concurrency: int, processes: int) -> int:
    """In-process workers per child: the host's `workers.concurrency`, split."""
    return math.ceil(concurrency / processes)


def child_environment(config: str | None, settings: Settings, processes: int) -> dict[str, str]:
    """What each child reads its settings from: the file and the command line's overrides."""
    env = {
        "IMAGEGATE_SERVER__HOST": settings.server.host,
        "IMAGEGATE_SERVER__PORT": str(settings.server.port),
        "IMAGEGATE_LOGGING__LEVEL": settings.logging.level,
        "IMAGEGATE_WORKERS__CONCURRENCY": str(share(settings.workers.concurrency, processes)),
    }
    if config is not None:
        env[CONFIG_ENV] = os.path.abspath(config)
    return env


def app_from_environment() -> Starlette:
    """uvicorn's factory in each child process."""
    from gateway import heap
    from gateway.app import create_app
    from gateway.logs import configure_logging

    settings = load_settings()
    configure_logging(settings.logging)
    app = create_app(settings, reload=load_settings)
    heap.tune()
    return app
