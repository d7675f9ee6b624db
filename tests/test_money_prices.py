"""Price tables by model x size x quality, token arithmetic and the one USD format, as pure
functions."""

from __future__ import annotations

from decimal import Decimal

import pytest

from backends.base import Usage
from gateway.money.book import PriceBook
from gateway.money.format import ZERO, from_micros, to_micros, usd
from gateway.money.prices import parse_model_price, unit_price
from gateway.money.tokens import TokenPrices, token_cost, usage_to_json
from gateway.settings import BackendSettings

GPT_IMAGE = {
    "1024x1024": {"low": "0.011", "medium": "0.042", "high": "0.167"},
    "1024x1536": {"low": "0.016", "medium": "0.063", "high": "0.25"},
    "1536x1024": {"low": "0.016", "medium": "0.063", "high": "0.25"},
}


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        ("0", "0.00"),
        ("0.04", "0.04"),
        ("0.040000", "0.04"),
        ("0.0025", "0.0025"),
        ("12.5", "12.50"),
        ("1E+1", "10.00"),
        ("0.1664", "0.1664"),
        ("0.0000004", "0.00"),  # below the micro-dollar, rounded half up
        ("0.0000005", "0.000001"),
    ],
)
def test_usd_is_one_canonical_string(amount: str, text: str) -> None:
    assert usd(Decimal(amount)) == text


def test_micros_round_trip() -> None:
    assert to_micros(Decimal("0.25")) == 250_000
    assert from_micros(250_000) == Decimal("0.25")
    assert usd(from_micros(to_micros(Decimal("0.0025")))) == "0.0025"


def table(prices: dict[str, object]) -> dict[str, object]:
    return {model: parse_model_price(value) for model, value in prices.items()}


def test_flat_prices_stay_valid() -> None:
    prices = table({"gpt-image-1": "0.04", "default": "0.02"})
    assert unit_price(prices, "gpt-image-1", "1024x1024", "high") == Decimal("0.04")
    assert unit_price(prices, "other", "512x512", None) == Decimal("0.02")


def test_size_by_quality_table() -> None:
    prices = table({"gpt-image-1": GPT_IMAGE})
    assert unit_price(prices, "gpt-image-1", "1536x1024", "high") == Decimal("0.25")
    assert unit_price(prices, "gpt-image-1", "1024x1024", "low") == Decimal("0.011")
    # no quality (or one the table lacks, like "auto"): the highest, the vendor may pick it
    assert unit_price(prices, "gpt-image-1", "1024x1024", None) == Decimal("0.167")
    assert unit_price(prices, "gpt-image-1", "1024x1024", "auto") == Decimal("0.167")
    assert unit_price(prices, "gpt-image-1", "2048x2048", "low") is None
    assert unit_price(prices, "dall-e-3", "1024x1024", None) is None


def test_size_and_quality_defaults() -> None:
    prices = table({"m": {"1024x1024": {"hd": "0.08", "default": "0.04"}, "default": "0.10"}})
    assert unit_price(prices, "m", "1024x1024", None) == Decimal("0.04")
    assert unit_price(prices, "m", "1024x1024", "hd") == Decimal("0.08")
    assert unit_price(prices, "m", "512x512", "hd") == Decimal("0.10")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("four cents", "invalid amount"),
        ("-0.01", "non-negative"),
        ("0.0000001", "6 decimal places"),
        ({"1024X1024": "0.04"}, "neither a size"),
        ({"1024x1024": {"high": "lots"}}, r"1024x1024\.high: invalid amount"),
        ({}, "empty price table"),
        ({"1024x1024": {}}, "empty quality table"),
    ],
)
def test_bad_prices_are_refused(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_model_price(value)


def test_token_arithmetic() -> None:
    prices = TokenPrices.model_validate(
        {"text_input": "5.00", "image_input": "10.00", "image_output": "40.00"}
    )
    usage = Usage(
        images=1, input_tokens=50, output_tokens=6208, input_text_tokens=40, input_image_tokens=10
    )
    # 40 * 5 + 10 * 10 + 6208 * 40 = 248,620 micro-dollars
    assert token_cost(prices, usage) == Decimal("0.248620")
    # input without a split is text
    assert token_cost(prices, Usage(input_tokens=7, output_tokens=1)) == Decimal("0.000075")
    assert usage_to_json(Usage(images=2, output_tokens=9, cost=Decimal("0.5"))) == {
        "images": 2,
        "outputTokens": 9,
        "cost": "0.50",
    }


def test_price_book_estimate_is_price_times_n_and_free_backends_cost_nothing() -> None:
    book = PriceBook(
        {
            "openai": BackendSettings(type="openai", prices={"gpt-image-1": GPT_IMAGE}),
            "local": BackendSettings(type="procedural"),
            "gpu": BackendSettings(type="automatic1111", free=True),
        }
    )
    assert book.estimate("openai", "gpt-image-1", "1536x1024", "high", 2) == Decimal("0.50")
    assert book.estimate("openai", "gpt-image-1", "1024x1024", "low", 3) == Decimal("0.033")
    assert book.estimate("local", "procedural-v1", "512x512", None, 4) == 0
    assert book.estimate("gpu", "sdxl", "512x512", None, 4) == 0


def test_price_book_charges_stated_cost_then_tokens_then_the_estimate() -> None:
    tokens = {"text_input": "5", "image_input": "10", "image_output": "40"}
    book = PriceBook(
        {
            "openai": BackendSettings(
                type="openai",
                prices={"gpt-image-1": GPT_IMAGE, "dall-e-3": "0.04"},
                token_prices={"gpt-image-1": tokens},
            ),
            "local": BackendSettings(type="procedural"),
        }
    )
    estimate = Decimal("0.25")
    used = Usage(images=1, input_tokens=20, input_text_tokens=20, output_tokens=6208)
    assert book.charge("openai", "gpt-image-1", estimate, used) == Decimal("0.24842")
    stated = Usage(images=1, cost=Decimal("0.0301"))
    assert book.charge("openai", "gpt-image-1", estimate, stated) == Decimal("0.0301")
    assert book.charge("openai", "gpt-image-1", estimate, Usage(images=1)) == estimate
    assert book.charge("openai", "dall-e-3", Decimal("0.04"), used) == Decimal("0.04")
    assert book.charge("local", "procedural-v1", ZERO, stated) == ZERO
