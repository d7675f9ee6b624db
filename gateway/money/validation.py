"""Price checks run by `config check` and at start-up: every job a route can send has a
price, and no price key is a typo.

- Every (backend, vendor model, size) a model alias can route to has a price (a flat
  price, the size, or a `default`), unless the backend is free: `free = true`, or the
  `procedural` type without prices.
- A key of `prices` or `token_prices` names a vendor model some route sends to that
  backend (or is `default`); a size key is one that such a route's alias allows; a quality
  key is one the vendor model takes (`quality_problems`, with the built backend).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING

from gateway.money.prices import DEFAULT, model_keys, size_keys, unit_price

if TYPE_CHECKING:
    from gateway.settings import BackendSettings, Settings


def is_free(backend: BackendSettings) -> bool:
    """A backend that never costs anything: declared free, or procedural without prices."""
    return backend.free or (backend.type == "procedural" and not backend.prices)


def price_problems(settings: Settings, *, typos: bool = True) -> list[str]:
    """Every pricing problem in `settings`, each naming the backend, model and size.
    `typos=False` leaves out the typo guard (config check, while a model alias that did
    not validate may be the route a price key is for)."""
    # backend -> vendor model -> {size: [aliases routing it]}
    routed: dict[str, dict[str, dict[str, list[str]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(list))
    )
    for alias, model in settings.models.items():
        for target in model.targets:
            for size in model.sizes:
                routed[target.backend][target.model][size].append(alias)
    problems: list[str] = []
    for name, backend in settings.backends.items():
        problems += _backend_problems(name, backend, routed.get(name, {}), typos)
    return problems


def _backend_problems(
    name: str, backend: BackendSettings, routed: dict[str, dict[str, list[str]]], typos: bool
) -> list[str]:
    where = f"backends.{name}"
    if backend.free:
        if backend.prices or backend.token_prices:
            return [f"{where}: free = true contradicts its prices; keep one of them"]
        return []
    problems = _typos(where, backend, routed) if typos else []
    if is_free(backend):
        return problems
    for model, sizes in routed.items():
        missing = [s for s in sizes if unit_price(backend.prices, model, s, None) is None]
        if not missing:
            continue
        aliases = sorted({alias for size in missing for alias in sizes[size]})
        if not backend.prices:
            fix = "give it prices, or declare free = true if it costs nothing"
        else:
            fix = f'add them under prices."{model}" (or a "{DEFAULT}")'
        problems.append(
            f"{where}: model {model!r} has no price for size {', '.join(missing)} "
            f"(routed by models.{', models.'.join(aliases)}); {fix}"
        )
    return problems


def _typos(
    where: str, backend: BackendSettings, routed: dict[str, dict[str, list[str]]]
) -> list[str]:
    known = ", ".join(sorted(routed)) or "none"
    problems = [
        f'{where}.{table}: "{model}" is not a model any route sends to {where} '
        f"(routed models: {known})"
        for table, keys in (
            ("prices", model_keys(backend.prices)),
            ("token_prices", list(backend.token_prices)),
        )
        for model in keys
        if model not in routed
    ]
    for model, entry in backend.prices.items():
        allowed = set().union(*routed.values()) if model == DEFAULT else set(routed.get(model, ()))
        if model != DEFAULT and model not in routed:
            continue
        for size in size_keys(entry):
            if size not in allowed:
                problems.append(
                    f'{where}.prices."{model}": size {size} is allowed by no model alias '
                    f"routed here (sizes: {', '.join(sorted(allowed)) or 'none'})"
                )
    return problems


def quality_problems(
    name: str, backend: BackendSettings, qualities: Callable[[str], frozenset[str] | None]
) -> list[str]:
    """Quality keys of `prices` that the vendor model does not take (a typo such as "hihg"
    would otherwise make `high` jobs fall back to another price). `qualities(model)` is
    what the built backend declares; None (any quality passes) checks nothing."""
    problems: list[str] = []
    for model, entry in backend.prices.items():
        if model == DEFAULT or isinstance(entry, Decimal):
            continue
        allowed = qualities(model)
        if allowed is None:
            continue
        for size, by_size in entry.items():
            if isinstance(by_size, Decimal):
                continue
            for quality in by_size:
                if quality != DEFAULT and quality not in allowed:
                    problems.append(
                        f'backends.{name}.prices."{model}".{size}: quality {quality!r} is not '
                        f"one model {model!r} takes (qualities: "
                        f"{', '.join(sorted(allowed)) or 'none'})"
                    )
    return problems
