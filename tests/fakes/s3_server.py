"""An S3-protocol server for tests: moto's standalone server behind a SigV4 check.

moto stores objects faithfully but does not verify signatures, so it would serve a tampered
presigned URL. Real S3 refuses one, so this WSGI layer does what S3 does for both ways a
request is signed with AWS Signature Version 4:

- header auth: `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`
- query auth (presigned URLs): `X-Amz-Credential`, `X-Amz-Signature`, ... in the query,
  which must also be unexpired and last at most 7 days.

A wrong key, region, session token or signature gets 403 like S3 gives; like S3, a
SignatureDoesNotMatch body echoes the key id and the canonical request (session token
included), which a client must never log. Unsigned requests pass to moto unchanged (moto
refuses anonymous reads of private objects itself).

    python -m tests.fakes.s3_server --port P --access-key K --secret-key S \
        --region R [--session-token T]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import re
import time
from calendar import timegm
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, unquote
from xml.sax.saxutils import escape

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_EXPIRES = 7 * 86400
Environ = dict[str, Any]
StartResponse = Callable[..., Any]


def _encode(text: str) -> str:
    return quote(text, safe="-_.~")


def _header(environ: Environ, name: str) -> str:
    if name in ("content-type", "content-length"):
        key = name.upper().replace("-", "_")
    else:
        key = "HTTP_" + name.upper().replace("-", "_")
    return " ".join(str(environ.get(key, "")).split())


def canonical_request(
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    payload_hash: str,
) -> str:
    """SigV4's canonical request as S3 builds it (path encoded once, query sorted)."""
    canonical_uri = "/".join(_encode(unquote(part)) for part in path.split("/"))
    canonical_query = "&".join(sorted(f"{_encode(key)}={_encode(value)}" for key, value in query))
    names = sorted(headers)
    lines = "".join(f"{name}:{headers[name]}\n" for name in names)
    return "\n".join([method, canonical_uri, canonical_query, lines, ";".join(names), payload_hash])


def signature(secret: str, canonical: str, amz_date: str, scope: str) -> str:
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    to_sign = "\n".join([ALGORITHM, amz_date, scope, digest])
    key = ("AWS4" + secret).encode()
    for part in scope.split("/"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


class Refusal(Exception):
    def __init__(self, code: str, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.detail = detail  # extra XML elements, as S3 adds them

    def body(self) -> bytes:
        return (
            f"<Error><Code>{self.code}</Code><Message>{escape(self.message)}</Message>"
            f"{self.detail}</Error>"
        ).encode()


class SigV4Check:
    """WSGI middleware: verify signed requests, pass the rest to `app`."""

    def __init__(
        self, app: Any, access_key: str, secret_key: str, region: str, token: str | None
    ) -> None:
        self.app = app
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region
        self.token = token

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        raw_uri = environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ["PATH_INFO"]
        path = raw_uri.split("?", 1)[0]
        query = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        try:
            if "X-Amz-Signature" in dict(query):
                self._check_query(environ, path, query)
            elif environ.get("HTTP_AUTHORIZATION", "").startswith(ALGORITHM):
                self._check_header(environ, path, query)
        except Refusal as refusal:
            body = refusal.body()
            start_response(
                "403 Forbidden",
                [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))],
            )
            return [body]
        result: Iterable[bytes] = self.app(environ, start_response)
        return result

    def _check_query(self, environ: Environ, path: str, query: list[tuple[str, str]]) -> None:
        params = dict(query)
        expires = int(params.get("X-Amz-Expires", "0"))
        if expires > MAX_EXPIRES:
            raise Refusal("AuthorizationQueryParametersError", "X-Amz-Expires must be <= 604800")
        amz_date = params.get("X-Amz-Date", "")
        if time.time() > timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ")) + expires:
            raise Refusal("AccessDenied", "Request has expired")
        self._check(
            environ,
            path,
            [(k, v) for k, v in query if k != "X-Amz-Signature"],
            params.get("X-Amz-SignedHeaders", "host").split(";"),
            params.get("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD"),
            amz_date,
            params.get("X-Amz-Credential", ""),
            params.get("X-Amz-Security-Token"),
            params["X-Amz-Signature"],
        )

    def _check_header(self, environ: Environ, path: str, query: list[tuple[str, str]]) -> None:
        fields = dict(re.findall(r"(\w+)=([^,\s]+)", environ["HTTP_AUTHORIZATION"]))
        self._check(
            environ,
            path,
            query,
            fields.get("SignedHeaders", "").split(";"),
            _header(environ, "x-amz-content-sha256"),
            _header(environ, "x-amz-date"),
            fields.get("Credential", ""),
            _header(environ, "x-amz-security-token") or None,
            fields.get("Signature", ""),
        )

    def _check(
        self,
        environ: Environ,
        path: str,
        query: list[tuple[str, str]],
        signed_headers: list[str],
        payload_hash: str,
        amz_date: str,
        credential: str,
        token: str | None,
        provided: str,
    ) -> None:
        key, _, scope = credential.partition("/")
        if key != self.access_key:
            raise Refusal("InvalidAccessKeyId", "unknown access key")
        if scope.split("/")[1:2] != [self.region]:
            raise Refusal("AuthorizationHeaderMalformed", "wrong region in the credential scope")
        if self.token is not None and token != self.token:
            raise Refusal("InvalidToken", "missing or wrong session token")
        headers = {name: _header(environ, name) for name in signed_headers}
        canonical = canonical_request(environ["REQUEST_METHOD"], path, query, headers, payload_hash)
        expected = signature(self.secret_key, canonical, amz_date, scope)
        if not hmac.compare_digest(expected, provided):
            detail = (
                f"<AWSAccessKeyId>{escape(key)}</AWSAccessKeyId>"
                f"<SignatureProvided>{escape(provided)}</SignatureProvided>"
                f"<CanonicalRequest>{escape(canonical)}</CanonicalRequest>"
            )
            raise Refusal("SignatureDoesNotMatch", "the signature does not match", detail)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--access-key", required=True)
    parser.add_argument("--secret-key", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--session-token")
    args = parser.parse_args()
    os.environ["MOTO_PORT"] = str(args.port)

    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    moto = DomainDispatcherApplication(create_backend_app)
    app = SigV4Check(moto, args.access_key, args.secret_key, args.region, args.session_token)
    make_server("127.0.0.1", args.port, app, threaded=True).serve_forever()


if __name__ == "__main__":
    main()
