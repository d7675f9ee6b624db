"""The price book: what one attempt at a route target is expected to cost, and what it is
charged once the vendor answered (from its reported usage when there is a token price)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING

from backends.base import Usage
from gateway.money.format import ZERO, to_micro_dollar
from gateway.money.prices import unit_price
from gateway.money.tokens import has_tokens, token_cost
from gateway.money.validation import is_free

if TYPE_CHECKING:
    from gateway.settings import BackendSettings


class Unpriced(LookupError):
    """No price for a (backend, model, size): `config check` refuses such configs."""


class PriceBook:
    def __init__(self, backends: Mapping[str, BackendSettings]) -> None:
        self.backends = backends

    def estimate(self, backend: str, model: str, size: str, quality: str | None, n: int) -> Decimal:
        """USD one attempt of `n` images is expected to cost: the worst case it may bill."""
        config = self.backends[backend]
        if is_free(config):
            return ZERO
        price = unit_price(config.prices, model, size, quality)
        if price is None:
            raise Unpriced(f"backends.{backend}: no price for model {model!r} at size {size}")
        return to_micro_dollar(price * n)

    def charge(self, backend: str, model: str, estimate: Decimal, usage: Usage) -> Decimal:
        """What a successful attempt costs: a cost the vendor stated, else its reported
        tokens at the model's token prices, else the table's estimate."""
        config = self.backends[backend]
        if is_free(config):
            return ZERO
        if usage.cost is not None:
            return to_micro_dollar(usage.cost)
        prices = config.token_prices.get(model)
        if prices is None or not has_tokens(usage):
            return estimate
        return token_cost(prices, usage)
