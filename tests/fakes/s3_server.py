"""An S3-protocol server for tests: moto's standalone server behind a SigV4 check.

moto stores objects faithfully but does not verify signatures, so it would serve a tampered
presigned URL. Real S3 refuses one, so this WSGI layer does what S3 does for both ways a
request is signed with AWS Signature Version 4:

- header auth: `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`
- query auth (presigned URLs): `X-Amz-Credential`, `X-Amz-Signature`, ... in the query,
  which must also be unexpired and last at most 7 days.

A wrong key, region, session token or signature gets 403 like S3 gives. Unsigned requests
pass to moto unchanged (moto refuses anonymous reads of private objects itself).

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


def signature(
    secret: str,
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    payload_hash: str,
    amz_date: str,
    scope: str,
) -> str:
    """SigV4 as S3 computes it (path encoded once, query sorted and re-encoded)."""
    canonical_uri = "/".join(_encode(unquote(part)) for part in path.split("/"))
    canonical_query = "&".join(sorted(f"{_encode(key)}={_encode(value)}" for key, value in query))
    names = sorted(headers)
    canonical_request = "\n".join(
        [
            method,
            canonical_uri,
            canonical_query,
            "".join(f"{name}:{headers[name]}\n" for name in names),
            ";".join(names),
            payload_hash,
        ]
    )
    to_sign = "\n".join(
        [ALGORITHM, amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    key = ("AWS4" + secret).encode()
    for part in scope.split("/"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


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
        params = dict(query)
        authorization = environ.get("HTTP_AUTHORIZATION", "")
        if "X-Amz-Signature" in params:
            problem = self._check_query(environ["REQUEST_METHOD"], path, query, params, environ)
        elif authorization.startswith(ALGORITHM):
            problem = self._check_header(environ["REQUEST_METHOD"], path, query, environ)
        else:
            problem = None
        if problem is None:
            result: Iterable[bytes] = self.app(environ, start_response)
            return result
        code, message = problem
        body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
        start_response(
            "403 Forbidden",
            [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))],
        )
        return [body]

    def _check_scope(self, credential: str) -> tuple[str, str] | None:
        key, _, scope = credential.partition("/")
        if key != self.access_key:
            return "InvalidAccessKeyId", "unknown access key"
        if scope.split("/")[1:2] != [self.region]:
            return "AuthorizationHeaderMalformed", "wrong region in the credential scope"
        return None

    def _check_query(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        params: dict[str, str],
        environ: Environ,
    ) -> tuple[str, str] | None:
        problem = self._check_scope(params.get("X-Amz-Credential", ""))
        if problem:
            return problem
        if self.token is not None and params.get("X-Amz-Security-Token") != self.token:
            return "InvalidToken", "missing or wrong session token"
        expires = int(params.get("X-Amz-Expires", "0"))
        if expires > MAX_EXPIRES:
            return "AuthorizationQueryParametersError", "X-Amz-Expires must be <= 604800"
        amz_date = params.get("X-Amz-Date", "")
        signed_at = timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ"))
        if time.time() > signed_at + expires:
            return "AccessDenied", "Request has expired"
        names = params.get("X-Amz-SignedHeaders", "host").split(";")
        expected = signature(
            self.secret_key,
            method,
            path,
            [(k, v) for k, v in query if k != "X-Amz-Signature"],
            {name: _header(environ, name) for name in names},
            params.get("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD"),
            amz_date,
            params["X-Amz-Credential"].split("/", 1)[1],
        )
        if not hmac.compare_digest(expected, params["X-Amz-Signature"]):
            return "SignatureDoesNotMatch", "the signature does not match"
        return None

    def _check_header(
        self, method: str, path: str, query: list[tuple[str, str]], environ: Environ
    ) -> tuple[str, str] | None:
        fields = dict(re.findall(r"(\w+)=([^,\s]+)", environ["HTTP_AUTHORIZATION"]))
        problem = self._check_scope(fields.get("Credential", ""))
        if problem:
            return problem
        if self.token is not None and _header(environ, "x-amz-security-token") != self.token:
            return "InvalidToken", "missing or wrong session token"
        names = fields.get("SignedHeaders", "").split(";")
        expected = signature(
            self.secret_key,
            method,
            path,
            query,
            {name: _header(environ, name) for name in names},
            _header(environ, "x-amz-content-sha256"),
            _header(environ, "x-amz-date"),
            fields["Credential"].split("/", 1)[1],
        )
        if not hmac.compare_digest(expected, fields.get("Signature", "")):
            return "SignatureDoesNotMatch", "the signature does not match"
        return None


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
