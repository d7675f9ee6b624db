"""Where a new job's ending goes: its own `webhookUrl`, else its tenant's `webhook_url`.

A tenant with `webhook_hosts` accepts a job's own URL only on those hosts (`hooks.acme.com`,
or `*.acme.com` for its subdomains). Either URL must pass the outbound guard now; delivery
checks again before connecting, since a name may resolve differently by then.
"""

from __future__ import annotations

import httpx

from gateway.errors import invalid_request
from gateway.jobs import WebhookState
from gateway.outbound import OutboundGuard, OutboundRefused
from gateway.settings import Settings


def host_allowed(host: str, patterns: tuple[str, ...]) -> bool:
    host = host.lower().rstrip(".")
    for pattern in patterns:
        pattern = pattern.lower()
        if host == pattern or (pattern.startswith("*.") and host.endswith(pattern[1:])):
            return True
    return False


async def webhook_target(
    settings: Settings, guard: OutboundGuard, tenant: str, requested: str | None
) -> WebhookState | None:
    """The job's webhook (not yet due), or None; 400 naming `webhookUrl` when refused."""
    config = settings.tenants.get(tenant)
    url = requested or (config.webhook_url if config else None)
    if url is None:
        return None
    if requested is not None and config is not None and config.webhook_hosts:
        try:
            host = httpx.URL(requested).host
        except (httpx.InvalidURL, ValueError):
            raise invalid_request("'webhookUrl': it is not a valid URL", "webhookUrl") from None
        if not host_allowed(host, config.webhook_hosts):
            raise invalid_request(
                f"'webhookUrl': host {host[:100]!r} is not one of this tenant's webhook hosts",
                "webhookUrl",
            )
    try:
        await guard.check(url)
    except OutboundRefused as exc:
        where = "webhookUrl" if requested else "the tenant's webhook_url"
        raise invalid_request(f"{where!r}: {exc}", "webhookUrl") from None
    return WebhookState(url=url)
