"""Redaction of secrets from text that may reach a client or a log.

Shared by the backends (vendor error messages) and the host (job errors, logs); it lives
here because `backends/` never imports the gateway.
"""

from __future__ import annotations

import re

_SECRET_PATTERNS = [
    # Authorization header values and bearer tokens.
    (re.compile(r"(?i)(authorization\s*[:=]\s*)(\S+(?:\s+\S+)?)"), r"\1[redacted]"),
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+"), "Bearer [redacted]"),
    # Vendor key shapes: OpenAI sk-..., Replicate r8_..., Stability sk-...
    (re.compile(r"\bsk-[A-Za-z0-9_-]{6,}"), "[redacted-key]"),
    (re.compile(r"\br8_[A-Za-z0-9]{6,}"), "[redacted-key]"),
    # Presigned query strings (S3 SigV4, GCS, our own signatures).
    (
        re.compile(
            r"(?i)([?&](?:X-Amz-[A-Za-z-]+|X-Goog-[A-Za-z-]+|Signature|sig|exp|token)=)[^&\s\"']*"
        ),
        r"\1[redacted]",
    ),
    # Any URL: vendor hosts and internal endpoints never reach a client.
    (re.compile(r"\bhttps?://[^\s\"'<>]+"), "[url]"),
    # A Host header echoed back by a vendor, and any bare host:port (internal endpoints).
    (re.compile(r"(?i)\b(host\s*[:=]\s*)[^\s,;\"'<>]+"), r"\1[redacted]"),
    (
        re.compile(
            r"(?i)(?:\[[0-9a-f:.]+\]|\b(?:\d{1,3}\.){3}\d{1,3}|\blocalhost"
            r"|\b(?:[a-z0-9-]+\.)+[a-z][a-z0-9-]*):\d{1,5}\b"
        ),
        "[host]",
    ),
]


def redact(text: str) -> str:
    """Remove keys, bearer tokens, Authorization values, signatures and URLs from `text`."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text
