"""Money: price tables, token prices, the canonical USD format, price checks on the config.

Every amount is a `Decimal` kept to the micro-dollar and shown with `usd()`; counters
shared through the state store hold integer micro-dollars.
"""
