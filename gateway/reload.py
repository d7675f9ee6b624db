"""Quota changes without a restart: on SIGHUP (or `POST /admin/reload`) the config file is
read again and its `[plans]`, `[tenants]` and `[admin]` (limits, budgets, keys) replace the
running ones.

Everything else (state, storage, models, backends, server) is wired into open clients and
workers, so a change there is reported and needs a restart. A file that does not validate
changes nothing: the error is logged (and answered) and the old config stays in force.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass

from gateway.services import Gateway
from gateway.settings import ConfigError, Settings

log = logging.getLogger("imagegate.reload")

LIVE_SECTIONS = ("plans", "tenants", "admin")
Loader = Callable[[], Settings]


@dataclass(frozen=True)
class ReloadOutcome:
    """What a reload did: applied (with the sections that still need a restart) or refused."""

    applied: bool
    plans: int = 0
    tenants: int = 0
    restart_needed: tuple[str, ...] = ()
    error: str | None = None


def apply_quota_config(gateway: Gateway, fresh: Settings) -> list[str]:
    """Swap in `fresh`'s live sections; the sections that changed but need a restart."""
    current = gateway.settings
    pending = [
        name
        for name in Settings.model_fields
        if name not in LIVE_SECTIONS and getattr(fresh, name) != getattr(current, name)
    ]
    live = {name: getattr(fresh, name) for name in LIVE_SECTIONS}
    gateway.rebind(current.model_copy(update=live))
    return pending


def reload_now(gateway: Gateway, load: Loader) -> ReloadOutcome:
    try:
        fresh = load()
    except ConfigError as exc:
        log.error("config reload refused, the running config stays: %s", exc)
        return ReloadOutcome(applied=False, error=str(exc))
    pending = apply_quota_config(gateway, fresh)
    log.warning(
        "config reloaded: %d plans, %d tenants%s",
        len(fresh.plans),
        len(fresh.tenants),
        f"; changes to [{'], ['.join(pending)}] need a restart" if pending else "",
    )
    return ReloadOutcome(True, len(fresh.plans), len(fresh.tenants), tuple(pending))


def install_sighup(gateway: Gateway, load: Loader) -> None:
    """Reload on SIGHUP (where the platform has it, and only in the main thread, where
    signals arrive: an app embedded in another thread still reloads by POST /admin/reload)."""
    if hasattr(signal, "SIGHUP") and threading.current_thread() is threading.main_thread():
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reload_now, gateway, load)
