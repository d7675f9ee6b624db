"""`imagegate serve | worker | gc | keys create | config check | usage`, `imagegate --version`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from gateway import __version__, heap
from gateway.auth import key_hash, new_key
from gateway.config_check import check_config
from gateway.logs import configure_logging
from gateway.serve_many import FACTORY, child_environment, refusal
from gateway.settings import ConfigError, LoggingSettings, Settings, load_settings
from gateway.usage.cli import add_command as usage_command

if TYPE_CHECKING:
    from gateway.services import Gateway


def _load(path: str | None) -> Settings:
    try:
        return load_settings(path)
    except ConfigError as exc:
        sys.exit(f"imagegate: {exc}")


def _checked(path: str | None) -> Settings:
    """What `serve` and `worker` start from: the config and this environment checked as
    `imagegate config check --env` checks them; every error at once, else a clean start
    (warnings are logged)."""
    report = check_config(path, env=True)
    if report.settings is None:
        sys.exit(f"imagegate: {report.text()}")
    for warning in report.warnings:
        logging.getLogger("imagegate").warning("config %s", warning)
    return report.settings


def _with_log_level(settings: Settings, level: str | None) -> Settings:
    """`--log-level` overrides `[logging] level`; the logs are then set up from the result."""
    if level is not None:
        logging_ = LoggingSettings(format=settings.logging.format, level=level)
        settings = settings.model_copy(update={"logging": logging_})
    configure_logging(settings.logging)
    return settings


def _serve(args: argparse.Namespace) -> None:
    import uvicorn

    from gateway.app import create_app
    from gateway.bootstrap import bootstrap
    from gateway.http_protocol import HttpProtocol

    settings = _checked(args.config)
    server = settings.server.model_copy(
        update={k: v for k, v in {"host": args.host, "port": args.port}.items() if v is not None}
    )
    settings = _with_log_level(settings.model_copy(update={"server": server}), args.log_level)
    problem = refusal(settings, args.workers)
    if problem is not None:
        sys.exit(f"imagegate: {problem}")
    # Generate first-start keys here so they are printed plainly, before the server logs.
    for tenant, key in bootstrap(settings).new_keys.items():
        print(
            f"\nImagegate generated an API key for tenant {tenant!r}. It is shown only now:\n\n"
            f"    {key}\n\n"
            f"Its hash is kept under {settings.server.data_dir}/keys/; delete that file to get "
            "a new key.\n",
            flush=True,
        )
    _print_new_webhook_secrets(settings)
    print(f"Imagegate listening on {settings.server.base_url}", flush=True)
    common: dict[str, Any] = {
        "host": server.host,
        "port": server.port,
        "log_config": None,  # uvicorn's lines (access log included) go through our handler
        "log_level": settings.logging.level,
        "proxy_headers": False,
        "server_header": False,
        "http": HttpProtocol,  # a response's head and body in one send
    }
    if args.workers > 1:
        os.environ.update(child_environment(args.config, settings, args.workers))
        uvicorn.run(FACTORY, factory=True, workers=args.workers, **common)  # each child tunes
        return
    app = create_app(settings, reload=lambda: load_settings(args.config))
    heap.tune()
    uvicorn.run(app, **common)


def _print_new_webhook_secrets(settings: Settings) -> None:
    """Generate missing tenant webhook secrets now, and show each new one once."""
    from gateway.webhooks import TenantSecrets

    try:
        made = TenantSecrets(settings, os.environ).ensure()
    except ConfigError as exc:
        sys.exit(f"imagegate: {exc}")
    for tenant, secret in made.items():
        print(
            f"\nImagegate generated a webhook signing secret for tenant {tenant!r}. Give it to "
            f"the tenant to verify its webhooks (Standard Webhooks):\n\n    {secret}\n\n"
            f"It is kept under {settings.server.data_dir}/webhooks/ (mode 0600); "
            f"`imagegate webhooks rotate --tenant {tenant}` replaces it.\n",
            flush=True,
        )


def _webhooks_rotate(args: argparse.Namespace) -> None:
    from gateway.webhooks import TenantSecrets

    settings = _load(args.config)
    try:
        secret = TenantSecrets(settings, os.environ).rotate(args.tenant)
    except ConfigError as exc:
        sys.exit(f"imagegate: {exc}")
    overlap = settings.webhooks.rotation_overlap
    print(f"New webhook signing secret for tenant {args.tenant!r} (shown once):\n  {secret}")
    print(
        f"\nThe previous secret keeps signing beside it for {overlap:g} s "
        "([webhooks] rotation_overlap): hand the new one to the tenant before then."
    )


def _worker(args: argparse.Namespace) -> None:
    from gateway.reload import install_sighup
    from gateway.services import Gateway

    settings = _checked(args.config)
    if settings.workers.concurrency < 1:
        sys.exit("imagegate: workers.concurrency must be at least 1 for `imagegate worker`")
    settings = _with_log_level(settings, args.log_level)

    async def run() -> None:
        gateway = await Gateway.open(settings)
        heap.tune()
        install_sighup(gateway, lambda: load_settings(args.config))
        if args.metrics_port is not None:
            _serve_metrics(gateway, args.metrics_host, args.metrics_port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        logging.getLogger("imagegate").info(
            "worker %s running %d workers", gateway.workers.name, settings.workers.concurrency
        )
        await stop.wait()
        await gateway.aclose()

    asyncio.run(run())


def _serve_metrics(gateway: Gateway, host: str, port: int) -> None:
    """The worker's own collectors on http://host:port/metrics (a daemon thread: it
    ends with the process)."""
    from prometheus_client import start_http_server

    start_http_server(port, host, registry=gateway.metrics.registry)
    logging.getLogger("imagegate").info("worker metrics on port %d", port)


def _gc(args: argparse.Namespace) -> None:
    from gateway.errors import redact
    from gateway.gc import collect_garbage
    from gateway.state import StateUnavailable, state_from_settings
    from gateway.storage import StorageUnavailable, open_image_store

    settings = _load(args.config)
    shared = not settings.state.url.startswith("memory:")
    if settings.storage.retention is None:
        print("storage.retention is not set: images are kept; nothing to do")
        return
    if not shared and not args.dry_run:
        sys.exit(
            "imagegate: gc needs the state the gateway shares (state.url = redis://...): "
            "a separate process cannot see a memory:// gateway's jobs, so it cannot tell "
            "which images are still in use. --dry-run lists what is old."
        )

    async def run() -> None:
        state = state_from_settings(settings)
        try:
            images = open_image_store(settings.storage, os.environ)
            report = await collect_garbage(
                settings, state, images, datetime.now(UTC), dry_run=args.dry_run
            )
        finally:
            await state.aclose()
        print(report.summary())
        if not shared:
            print("(memory:// state: no live references known; every old image is counted)")

    try:
        asyncio.run(run())
    except (ConfigError, StateUnavailable, StorageUnavailable) as exc:
        # Nothing is deleted on a state error: unknown references never mean "unreferenced".
        sys.exit(f"imagegate: gc stopped: {redact(str(exc))}")


def _keys_create(args: argparse.Namespace) -> None:
    if args.admin == (args.tenant is not None):
        sys.exit("imagegate: keys create needs exactly one of --tenant NAME or --admin")
    key = new_key()
    if args.admin:
        owner, section = "the admin API", "[admin]"
    else:
        owner, section = f"tenant {args.tenant!r}", f"[tenants.{args.tenant}]"
    print(f"API key for {owner} (shown once, store it now):\n  {key}")
    print(f'\nAdd this line to {section} keys in your config:\n  "{key_hash(key)}"')


def _config_check(args: argparse.Namespace) -> None:
    report = check_config(args.file, env=args.env, secret_required=args.env)
    if report.settings is None:
        sys.exit(f"imagegate: {report.text()}")
    if report.warnings:
        print(report.text(), file=sys.stderr)
    settings = report.settings
    print(
        f"{args.file}: ok ({len(settings.tenants)} tenants, {len(settings.models)} models, "
        f"{len(settings.backends)} backends; default model {settings.default_model!r}"
        + (f"; {len(report.warnings)} warning(s)" if report.warnings else "")
        + ("; environment checked" if args.env else "")
        + ")"
    )


def _version() -> str:
    try:
        return version("imagegate")
    except PackageNotFoundError:  # run from a checkout that is not installed
        return __version__


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="imagegate", description="Image-generation gateway")
    root.add_argument("--version", action="version", version=f"imagegate {_version()}")
    commands = root.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP API (and in-process workers)")
    serve.add_argument("--config", help="TOML file (default: $IMAGEGATE_CONFIG or embedded)")
    serve.add_argument("--host", help="bind address (default from config: 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default from config: 8080)")
    serve.add_argument("--log-level", help="overrides [logging] level")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="API processes sharing the port (redis:// state only; default 1)",
    )
    serve.set_defaults(run=_serve)

    worker = commands.add_parser("worker", help="run workers only (shared redis:// state)")
    worker.add_argument("--config", help="TOML file (default: $IMAGEGATE_CONFIG or embedded)")
    worker.add_argument(
        "--metrics-port", type=int, help="serve this worker's /metrics on this port (default: off)"
    )
    worker.add_argument("--metrics-host", default="127.0.0.1", help="bind address for metrics")
    worker.add_argument("--log-level", help="overrides [logging] level")
    worker.set_defaults(run=_worker)

    gc = commands.add_parser(
        "gc", help="delete images older than storage.retention that no live job uses"
    )
    gc.add_argument("--config", help="TOML file (default: $IMAGEGATE_CONFIG or embedded)")
    gc.add_argument("--dry-run", action="store_true", help="report what would go; delete nothing")
    gc.set_defaults(run=_gc)

    keys = commands.add_parser("keys", help="manage API keys").add_subparsers(
        dest="keys_command", required=True
    )
    create = keys.add_parser("create", help="make a new key; prints it and its sha256 line")
    create.add_argument("--tenant", help="a key for this tenant")
    create.add_argument("--admin", action="store_true", help="a key for the admin API")
    create.set_defaults(run=_keys_create)

    webhooks = commands.add_parser("webhooks", help="webhook signing secrets").add_subparsers(
        dest="webhooks_command", required=True
    )
    rotate = webhooks.add_parser(
        "rotate", help="a new secret for a tenant; the old one signs on for the overlap"
    )
    rotate.add_argument("--tenant", required=True, help="the tenant whose secret to replace")
    rotate.add_argument("--config", help="TOML file (default: $IMAGEGATE_CONFIG or embedded)")
    rotate.set_defaults(run=_webhooks_rotate)

    config = commands.add_parser("config", help="config tools").add_subparsers(
        dest="config_command", required=True
    )
    check = config.add_parser("check", help="validate a config file: every problem at once")
    check.add_argument("file")
    check.add_argument(
        "--env",
        action="store_true",
        help="also check this environment: backend key variables, the signing secret",
    )
    check.set_defaults(run=_config_check)
    usage_command(commands)
    return root


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    configure_logging(LoggingSettings())  # serve and worker reconfigure from their config
    args.run(args)


if __name__ == "__main__":
    main()
