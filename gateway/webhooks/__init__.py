"""Webhooks receivers can trust and that are never lost: Standard Webhooks signatures
(signing.py) under per-tenant secrets (secrets.py), events recorded in the state's outbox
by the step that ends a job, delivered with a long retry schedule (schedule.py) by any
process's dispatcher (dispatcher.py), through the outbound guard."""

from gateway.webhooks.dispatcher import MAX_ANSWER_BYTES, Dispatcher
from gateway.webhooks.events import event_body, event_id
from gateway.webhooks.secrets import TenantSecrets
from gateway.webhooks.signing import new_secret, secret_key, signed_headers

__all__ = [
    "MAX_ANSWER_BYTES",
    "Dispatcher",
    "TenantSecrets",
    "event_body",
    "event_id",
    "new_secret",
    "secret_key",
    "signed_headers",
]
