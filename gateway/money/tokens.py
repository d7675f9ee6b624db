"""Token prices (USD per million tokens) and what a vendor's reported usage costs.

    token_prices = { "gpt-image-1" = { text_input = "5.00", image_input = "10.00",
                                       image_output = "40.00" } }

OpenAI bills its gpt-image models by tokens and says so in each answer's `usage`:
`input_tokens` (split into `text_tokens` and `image_tokens`) and `output_tokens` (image
tokens). Input without a split is priced as text. The cost is rounded half up to the
micro-dollar, the unit every ledger and counter keeps.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict

from backends.base import Usage
from gateway.money.format import to_micro_dollar, usd
from gateway.money.prices import parse_price

PER_TOKENS = Decimal(1_000_000)
PerMillion = Annotated[Decimal, BeforeValidator(parse_price)]


class TokenPrices(BaseModel):
    """One model's prices in USD per million tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text_input: PerMillion
    image_input: PerMillion
    image_output: PerMillion


def has_tokens(usage: Usage) -> bool:
    return usage.input_tokens is not None or usage.output_tokens is not None


def usage_to_json(usage: Usage) -> dict[str, Any]:
    """What an attempt records of the vendor's report (and shows in its `usage`): the
    reported fields only, tokens as integers, a stated cost as a USD string."""
    fields: dict[str, Any] = {
        "images": usage.images,
        "inputTokens": usage.input_tokens,
        "inputTextTokens": usage.input_text_tokens,
        "inputImageTokens": usage.input_image_tokens,
        "outputTokens": usage.output_tokens,
        "seconds": usage.seconds,
        "cost": usd(usage.cost) if usage.cost is not None else None,
    }
    return {name: value for name, value in fields.items() if value is not None}


def token_cost(prices: TokenPrices, usage: Usage) -> Decimal:
    """USD the vendor bills for `usage` under `prices`, to the micro-dollar."""
    image_in = usage.input_image_tokens or 0
    text_in = (
        usage.input_text_tokens
        if usage.input_text_tokens is not None
        else max(0, (usage.input_tokens or 0) - image_in)
    )
    total = (
        text_in * prices.text_input
        + image_in * prices.image_input
        + (usage.output_tokens or 0) * prices.image_output
    )
    return to_micro_dollar(total / PER_TOKENS)
