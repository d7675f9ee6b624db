"""What one attempt is expected to cost: the host's price tables (backends report usage only)."""

from __future__ import annotations

from decimal import Decimal

from backends.base import GenerationRequest, Usage
from gateway.settings import BackendSettings


def price_per_image(settings: BackendSettings, model: str) -> Decimal:
    """The configured price of one image of `model` (`prices.default` when not listed)."""
    prices = settings.prices
    return prices.get(model, prices.get("default", Decimal("0")))


def estimate_cost(settings: BackendSettings, request: GenerationRequest) -> Decimal:
    """USD one attempt of `request` is expected to cost (used to reserve budget)."""
    return price_per_image(settings, request.model) * request.n


def charged_cost(
    settings: BackendSettings, request: GenerationRequest, usage: Usage, estimate: Decimal
) -> Decimal:
    """What a successful attempt is charged. For now the estimate; the vendor's `usage`
    (tokens, seconds, a stated cost) is here for pricing by usage."""
    return estimate
