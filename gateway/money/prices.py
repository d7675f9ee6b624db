"""Price tables by model, size and quality, as written under `[backends.NAME] prices`.

A model's price is one of:

    "gpt-image-1" = "0.04"                                    # flat, per image
    "gpt-image-1" = { "1024x1024" = "0.04", default = "0.06" }  # by size
    "gpt-image-1" = { "1024x1024" = { low = "0.011", high = "0.167", default = "0.042" } }

(sizes and qualities may mix flat values and tables). The model key `default` prices any
model not listed. A job's estimate is its (model, size, quality) price times `n`; a job
without a quality, or with one the table does not list, is priced at the size's `default`
quality, else its highest (the vendor may pick `auto`, so the estimate is the worst case).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, TypeAlias

from gateway.money.format import PLACES
from gateway.units import parse_money, parse_size

DEFAULT = "default"

QualityPrices: TypeAlias = Mapping[str, Decimal]
SizePrice: TypeAlias = Decimal | QualityPrices
ModelPrice: TypeAlias = Decimal | Mapping[str, SizePrice]


def parse_price(value: Any) -> Decimal:
    """One price: a decimal string, non-negative, at most six decimal places."""
    if isinstance(value, dict | list | bool):
        raise ValueError(f'invalid price {value!r}: use a decimal string such as "0.04"')
    price = parse_money(value)
    exponent = price.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -PLACES:
        raise ValueError(f"invalid price {value!r}: prices are kept to {PLACES} decimal places")
    return price


def parse_model_price(value: Any) -> ModelPrice:
    """A model's price as written in TOML -> a Decimal or nested read-only tables."""
    if not isinstance(value, dict):
        return parse_price(value)
    if not value:
        raise ValueError("an empty price table: give a price, or sizes with prices")
    sizes: dict[str, SizePrice] = {}
    for size, entry in value.items():
        if size != DEFAULT:
            try:
                parse_size(size)
            except ValueError:
                raise ValueError(
                    f"{size!r} is neither a size (WIDTHxHEIGHT) nor {DEFAULT!r}"
                ) from None
        sizes[size] = _parse_size_price(size, entry)
    return sizes


def _parse_size_price(size: str, value: Any) -> SizePrice:
    if not isinstance(value, dict):
        try:
            return parse_price(value)
        except ValueError as exc:
            raise ValueError(f"{size}: {exc}") from None
    if not value:
        raise ValueError(f"{size}: an empty quality table")
    qualities: dict[str, Decimal] = {}
    for quality, price in value.items():
        try:
            qualities[str(quality)] = parse_price(price)
        except ValueError as exc:
            raise ValueError(f"{size}.{quality}: {exc}") from None
    return qualities


def unit_price(
    prices: Mapping[str, ModelPrice], model: str, size: str, quality: str | None
) -> Decimal | None:
    """USD for one image of (model, size, quality); None when the table has no price."""
    entry = prices.get(model, prices.get(DEFAULT))
    if entry is None or isinstance(entry, Decimal):
        return entry
    by_size = entry.get(size, entry.get(DEFAULT))
    if by_size is None or isinstance(by_size, Decimal):
        return by_size
    return quality_price(by_size, quality)


def quality_price(table: QualityPrices, quality: str | None) -> Decimal:
    """The listed quality, else `default`, else the highest: never less than the vendor
    may charge for a quality it picks itself."""
    if quality is not None and quality in table:
        return table[quality]
    if DEFAULT in table:
        return table[DEFAULT]
    return max(table.values())


def model_keys(prices: Mapping[str, ModelPrice]) -> list[str]:
    return [model for model in prices if model != DEFAULT]


def size_keys(entry: ModelPrice) -> list[str]:
    if isinstance(entry, Decimal):
        return []
    return [size for size in entry if size != DEFAULT]
