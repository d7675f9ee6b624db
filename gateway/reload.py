"""Quota changes without a restart: on SIGHUP the config file is read again and its
`[plans]` and `[tenants]` (limits, budgets, keys) replace the running ones.

Everything else (state, storage, models, backends, server) is wired into open clients and
workers, so a change there is reported and needs a restart. A file that does not validate
changes nothing: the error is logged and the old config stays in force.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

from gateway.auth import KeyRing
from gateway.bootstrap import bootstrap
from gateway.services import Gateway
from gateway.settings import ConfigError, Settings

log = logging.getLogger("imagegate.reload")

LIVE_SECTIONS = ("plans", "tenants")
Loader = Callable[[], Settings]


def apply_quota_config(gateway: Gateway, fresh: Settings) -> list[str]:
    """Swap in `fresh`'s plans and tenants; the sections that changed but need a restart."""
    current = gateway.settings
    pending = [
        name
        for name in Settings.model_fields
        if name not in LIVE_SECTIONS and getattr(fresh, name) != getattr(current, name)
    ]
    updated = current.model_copy(update={name: getattr(fresh, name) for name in LIVE_SECTIONS})
    gateway.settings = updated
    gateway.workers.runner.settings = updated
    gateway.plans = {tenant: updated.plan_for(tenant) for tenant in updated.tenants}
    gateway.keyring = KeyRing(bootstrap(updated).key_hashes)
    return pending


def reload_now(gateway: Gateway, load: Loader) -> None:
    try:
        fresh = load()
    except ConfigError as exc:
        log.error("config reload refused, the running config stays: %s", exc)
        return
    pending = apply_quota_config(gateway, fresh)
    log.warning(
        "config reloaded: %d plans, %d tenants%s",
        len(fresh.plans),
        len(fresh.tenants),
        f"; changes to [{'], ['.join(pending)}] need a restart" if pending else "",
    )


def install_sighup(gateway: Gateway, load: Loader) -> None:
    """Reload on SIGHUP (where the platform has it)."""
    if hasattr(signal, "SIGHUP"):
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reload_now, gateway, load)
