"""The backend error tree: the TYPE of a failure decides whether it is retried and charged.

Tree (`retryable` / `charged` by default)::

    BackendError                    base; `code` is the public job error code
    ├── AuthError                   no  / no    the vendor refused our credentials (401/403)
    ├── QuotaExhausted              no  / no    out of credit (402, insufficient_quota)
    ├── InvalidRequest              no  / no    the vendor refused the request itself (400/404/422)
    ├── Unsupported(param)          no  / no    the target cannot honour a parameter (no call made)
    ├── ContentRefused              no  / no    the vendor's safety system refused the prompt
    │   └── OutputFiltered          no  / yes   an image was made, then withheld by moderation
    ├── RateLimited(retry_after)    yes / no    429: slow down, try again after `retry_after`
    ├── VendorUnavailable           yes / no    5xx, 409, connection refused: nothing was done
    ├── VendorFailed                yes / yes   the vendor's job ran and failed (it bills for that)
    ├── BadResponse                 yes / yes   an answer without usable content (no images, no id)
    ├── BadImage                    yes / yes   bytes that do not decode whole (truncated, HTML)
    └── Timeout(sent)               yes / sent  no answer in time; charged once the request was sent

`billed=True` on any error records that the vendor billed other work of the same attempt
(sibling calls of a fan-out, a prediction created before polling failed), so the attempt is
charged whatever the type says. Messages must already be free of secrets (`clean_message`);
the host redacts again all the same.
"""

from __future__ import annotations

from typing import ClassVar


class BackendError(Exception):
    """A failed attempt, already translated from the vendor's terms."""

    code: ClassVar[str] = "backend_unavailable"
    retryable: ClassVar[bool] = False
    charged_by_default: ClassVar[bool] = False

    def __init__(
        self, message: str, *, retry_after: float | None = None, billed: bool = False
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.billed = billed

    @property
    def charged(self) -> bool:
        """Whether the vendor billed (or may have billed) this attempt."""
        return self.charged_by_default or self.billed

    @property
    def outcome(self) -> str:
        """The snake_case name of the type, e.g. `rate_limited` (for attempt logs)."""
        name = type(self).__name__
        return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")

    def as_billed(self) -> BackendError:
        """This error, for an attempt the vendor billed anyway."""
        if not self.charged:
            self.billed = True
        return self

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, retryable={self.retryable}, "
            f"charged={self.charged}, retry_after={self.retry_after})"
        )


class AuthError(BackendError):
    """The vendor refused our credentials: a configuration problem, retrying cannot help."""


class QuotaExhausted(BackendError):
    """The vendor account is out of credit or over a hard limit."""


class InvalidRequest(BackendError):
    """The vendor refused the request itself (bad parameter, unknown model)."""


class Unsupported(InvalidRequest):
    """The target cannot honour `param` (a request field name such as `negative_prompt`)."""

    code = "invalid_request"

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


class ContentRefused(BackendError):
    """The vendor's safety system refused the prompt (or input image): no retry, no fallback."""

    code = "content_rejected"


class OutputFiltered(ContentRefused):
    """The vendor generated an image, then withheld it: refused, and billed."""

    charged_by_default = True


class RateLimited(BackendError):
    """The vendor asked us to slow down (HTTP 429)."""

    retryable = True


class VendorUnavailable(BackendError):
    """The vendor could not take the request (5xx, 409, connection refused)."""

    retryable = True


class VendorFailed(BackendError):
    """The vendor ran the job and it failed (or was canceled): billed, worth another try."""

    retryable = True
    charged_by_default = True


class BadResponse(BackendError):
    """The vendor answered success without usable content."""

    retryable = True
    charged_by_default = True


class BadImage(BadResponse):
    """Image bytes that do not decode as a whole image (truncated, HTML, JSON)."""


class Timeout(BackendError):
    """No answer in time. `sent`: the request had reached the vendor, so it may bill."""

    code = "timeout"
    retryable = True

    def __init__(
        self, message: str, *, sent: bool, retry_after: float | None = None, billed: bool = False
    ) -> None:
        super().__init__(message, retry_after=retry_after, billed=billed)
        self.sent = sent

    @property
    def charged(self) -> bool:
        return self.sent or self.billed
