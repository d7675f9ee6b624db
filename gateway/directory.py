"""The tenant directory: who may call, with which keys and limits, in one frozen value.

The API (authentication, plans, admin keys) and the workers (a job's plan and budget, its
tenant's webhook secrets) read the directory in force through one `Live` holder they all
share; a reload (gateway/reload.py) builds a new `Directory` and swaps it in with one
assignment, so no reader ever sees one tenant's new keys beside another's old plan.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from gateway.auth import KeyRing
from gateway.bootstrap import bootstrap
from gateway.settings import PlanSettings, Settings


@dataclass(frozen=True)
class Directory:
    settings: Settings  # the running config, its live sections (plans, tenants, admin) in force
    keyring: KeyRing  # tenant keys
    admin_keys: KeyRing  # the admin API's keys ("admin" -> hashes); never tenant keys
    plans: Mapping[str, PlanSettings]  # tenant -> effective limits (read-only)

    @classmethod
    def of(
        cls, settings: Settings, key_hashes: Mapping[str, Iterable[str]] | None = None
    ) -> Directory:
        """The directory of `settings`; tenant key hashes from `key_hashes` or, by default,
        from the config and the generated key files (gateway/bootstrap.py)."""
        hashes = bootstrap(settings).key_hashes if key_hashes is None else key_hashes
        return cls(
            settings=settings,
            keyring=KeyRing(hashes),
            admin_keys=KeyRing({"admin": settings.admin.keys}),
            plans=MappingProxyType({name: settings.plan_for(name) for name in settings.tenants}),
        )


class Live:
    """The directory in force, shared by every reader; `current` is replaced whole."""

    def __init__(self, directory: Directory) -> None:
        self.current = directory
