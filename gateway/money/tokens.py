"""Token prices (USD per million tokens) and what a vendor's reported usage costs.

    token_prices = { "gpt-image-1" = { text_input = "5.00", image_input = "10.00",
                                       image_output = "40.00" } }

OpenAI bills its gpt-image models by tokens and says so in each answer's `usage`:
`input_tokens` (split into `text_tokens` and `image_tokens`), `output_tokens` (image
tokens; `output_tokens_details` may split off text tokens). Input without a split is
priced as text; output without one as image output. The cost is rounded half up to the
micro-dollar, the unit every ledger and counter keeps.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict

from gateway.money.format import to_micro_dollar
from gateway.money.prices import parse_price

PER_TOKENS = Decimal(1_000_000)
PerMillion = Annotated[Decimal, BeforeValidator(parse_price)]


class TokenPrices(BaseModel):
    """One model's prices in USD per million tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text_input: PerMillion
    image_input: PerMillion
    image_output: PerMillion
    text_output: PerMillion | None = None  # else text output is priced as image output


@dataclass(frozen=True)
class TokenUsage:
    """Tokens one vendor call used, as it reported them (None: not reported)."""

    input_tokens: int = 0
    output_tokens: int = 0
    input_text_tokens: int | None = None
    input_image_tokens: int | None = None
    output_text_tokens: int | None = None
    output_image_tokens: int | None = None

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            input_text_tokens=_add(self.input_text_tokens, other.input_text_tokens),
            input_image_tokens=_add(self.input_image_tokens, other.input_image_tokens),
            output_text_tokens=_add(self.output_text_tokens, other.output_text_tokens),
            output_image_tokens=_add(self.output_image_tokens, other.output_image_tokens),
        )

    def to_json(self) -> dict[str, int]:
        """The record kept on the attempt (and shown in its `usage`): reported fields only."""
        fields = {
            "inputTokens": self.input_tokens,
            "outputTokens": self.output_tokens,
            "inputTextTokens": self.input_text_tokens,
            "inputImageTokens": self.input_image_tokens,
            "outputTextTokens": self.output_text_tokens,
            "outputImageTokens": self.output_image_tokens,
        }
        return {name: value for name, value in fields.items() if value is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TokenUsage:
        return cls(
            input_tokens=int(data.get("inputTokens", 0)),
            output_tokens=int(data.get("outputTokens", 0)),
            input_text_tokens=data.get("inputTextTokens"),
            input_image_tokens=data.get("inputImageTokens"),
            output_text_tokens=data.get("outputTextTokens"),
            output_image_tokens=data.get("outputImageTokens"),
        )


def _add(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    return a if b is None else a + b


def token_cost(prices: TokenPrices, usage: TokenUsage) -> Decimal:
    """USD the vendor bills for `usage` under `prices`, to the micro-dollar."""
    image_in = usage.input_image_tokens or 0
    text_in = (
        usage.input_text_tokens
        if usage.input_text_tokens is not None
        else max(0, usage.input_tokens - image_in)
    )
    text_out = usage.output_text_tokens or 0
    image_out = (
        usage.output_image_tokens
        if usage.output_image_tokens is not None
        else max(0, usage.output_tokens - text_out)
    )
    text_out_price = prices.text_output if prices.text_output is not None else prices.image_output
    total = (
        text_in * prices.text_input
        + image_in * prices.image_input
        + image_out * prices.image_output
        + text_out * text_out_price
    )
    return to_micro_dollar(total / PER_TOKENS)
