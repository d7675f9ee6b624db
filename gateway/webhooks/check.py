"""What `imagegate config check --env` says about webhook secrets: each tenant's
`webhook_secret_env` must name a variable holding valid `whsec_` secrets."""

from __future__ import annotations

from collections.abc import Mapping

from gateway.settings import Settings
from gateway.webhooks.signing import secret_key


def webhook_secret_problems(
    settings: Settings, environ: Mapping[str, str]
) -> list[tuple[str, str]]:
    """(config path, message) for each tenant whose named secret is missing or invalid."""
    problems: list[tuple[str, str]] = []
    for tenant, config in settings.tenants.items():
        name = config.webhook_secret_env
        if name is None:
            continue
        where = f"tenants.{tenant}.webhook_secret_env"
        values = environ.get(name, "").split()
        if not values:
            problems.append((where, f"${name} is not set or empty"))
        for value in values:
            try:
                secret_key(value)
            except ValueError as exc:
                problems.append((where, f"${name}: {exc}"))
    return problems
