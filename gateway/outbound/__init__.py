"""The guard every request to a user-supplied URL passes through (webhooks, and result URLs
vendors hand back): gateway/outbound/guard.py."""

from gateway.outbound.addresses import AddressPolicy, literal_address
from gateway.outbound.download import guarded_download
from gateway.outbound.guard import (
    OutboundGuard,
    OutboundRefused,
    Pinned,
    Resolver,
    ResponseTooLarge,
    system_resolver,
)

__all__ = [
    "AddressPolicy",
    "OutboundGuard",
    "OutboundRefused",
    "Pinned",
    "Resolver",
    "ResponseTooLarge",
    "guarded_download",
    "literal_address",
    "system_resolver",
]
