"""No input gets a 5xx: malformed file URLs, hostile JSON, huge headers, unknown routes, and
an unexpected exception (one log line, the connection stays usable)."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.jobs import Job
from gateway.settings import Settings
from gateway.state.memory import MemoryState
from tests.conftest import AUTH
from tests.fakes.serve import running

GOOD_SIG = "0" * 64
FILE_KEY = "images/ab/" + "ab" * 32 + ".png"


def error_of(response: object) -> dict[str, str]:
    body = response.json()  # type: ignore[attr-defined]
    assert body["ok"] is False
    error: dict[str, str] = body["error"]
    return error


@pytest.mark.parametrize(
    "path",
    [
        f"/files/{FILE_KEY}?exp=9999999999&sig=%C3%A9{'0' * 62}",  # non-ASCII signature
        f"/files/{FILE_KEY}?exp=%C2%B2&sig={GOOD_SIG}",  # "²" is a digit to str.isdigit
        f"/files/{FILE_KEY}?exp={'9' * 5000}&sig={GOOD_SIG}",  # past int()'s digit limit
        f"/files/{FILE_KEY}?exp=-1&sig={GOOD_SIG}",
        f"/files/{FILE_KEY}?exp=1e9&sig={GOOD_SIG}",
        f"/files/{FILE_KEY}?exp=9999999999&sig={'0' * 63}\u00e9",
        f"/files/{FILE_KEY}",
        "/files/images/../../etc/passwd?exp=9999999999&sig=" + GOOD_SIG,
        "/files/images/%00?exp=9999999999&sig=" + GOOD_SIG,
    ],
)
def test_malformed_file_urls_are_forbidden(
    make_client: Callable[..., TestClient], caplog: pytest.LogCaptureFixture, path: str
) -> None:
    client = make_client()
    caplog.clear()
    response = client.get(path)
    # A client may normalise `..` away: then no route matches (404), still the envelope.
    expected = (404, "not_found") if ".." in path else (403, "forbidden")
    assert (response.status_code, error_of(response)["code"]) == expected, response.text
    assert len(caplog.records) <= 1


@pytest.mark.parametrize(
    "key", ["images/../../etc/passwd", "images/ab/\x00.png", "images/ab/../../x.png", "other/x"]
)
def test_signed_keys_of_another_shape_never_reach_the_store(
    make_client: Callable[..., TestClient], caplog: pytest.LogCaptureFixture, key: str
) -> None:
    """Even with a valid signature (a leaked secret), only content-addressed keys are read."""
    client = make_client()
    url = client.app.state.gateway.signer.sign("", key)  # type: ignore[attr-defined]
    url = url.replace("..", "%2E%2E")  # sent as is: an HTTP client would resolve `..`
    caplog.clear()
    response = client.get(url)
    assert response.status_code == 404, response.text
    assert error_of(response)["code"] == "not_found"
    assert len(caplog.records) <= 1


HOSTILE_BODIES = [
    (b'{"prompt": "x", "n": ' + b"1" * 5000 + b"}", "integer that is too large"),
    (b'{"prompt": "x", "seed": ' + b"7" * 4301 + b"}", "integer that is too large"),
    (b'{"prompt": "x", "n": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", "deeper than 32"),
    (b'{"prompt": "x", "metadata": {"a": ' + b"{" * 10_000 + b"}" * 10_000 + b"}}", "deeper"),
    (b"[" * 10_000, "deeper than 32"),
    (b'{"prompt": "\\ud800"}', "'prompt': holds a lone UTF-16 surrogate"),
    (b'{"prompt": "x", "metadata": {"k": "\\udfff tail"}}', "'metadata.k'"),
    (b'{"prompt": "x", "metadata": {"\\ud800": "v"}}', "surrogate"),
    (b'{"prompt": "\xff"}', "not valid UTF-8"),
]


@pytest.mark.parametrize(("body", "needle"), HOSTILE_BODIES)
def test_hostile_json_is_invalid_request(
    make_client: Callable[..., TestClient], body: bytes, needle: str
) -> None:
    response = make_client().post(
        "/images/jobs", content=body, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert error["code"] == "invalid_request"
    assert needle in error["message"]


def test_a_valid_surrogate_pair_is_accepted(make_client: Callable[..., TestClient]) -> None:
    response = make_client().post(
        "/images/jobs",
        content=b'{"prompt": "a fox \\ud83e\\udd8a"}',
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert response.status_code == 202, response.text


def test_oversized_headers_answer_431(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings]
) -> None:
    default = make_client()
    response = default.get("/healthz", headers={"X-Padding": "x" * (1024 * 1024)})
    assert response.status_code == 431
    assert error_of(response)["code"] == "request_header_fields_too_large"
    assert "32768 bytes" in error_of(response)["message"]
    small = make_client(make_settings(server={"max_header_bytes": 2048}))
    assert small.get("/healthz", headers={"X-Padding": "x" * 1000}).status_code == 200
    assert small.get("/healthz", headers={"X-Padding": "x" * 3000}).status_code == 431
    assert small.get("/healthz?" + "q" * 3000).status_code == 431


def test_starlette_answers_use_the_envelope(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    missing = client.get("/no/such/route")
    assert (missing.status_code, error_of(missing)["code"]) == (404, "not_found")
    wrong = client.delete("/images/jobs", headers=AUTH)
    assert (wrong.status_code, error_of(wrong)["code"]) == (405, "method_not_allowed")
    # One route answers GET (the listing) and POST (a submit): Allow lists both.
    assert set(wrong.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}
    slash = client.post("/images/jobs/", json={"prompt": "x"}, headers=AUTH)
    assert (slash.status_code, error_of(slash)["code"]) == (404, "not_found")
    assert "x-request-id" in missing.headers


class ExplodingState(MemoryState):
    async def get_job(self, job_id: str) -> Job | None:
        if job_id == "job_boom":
            raise RuntimeError("state exploded at redis://10.0.0.5:6379/0")
        return await super().get_job(job_id)


def _exchange(sock: socket.socket, path: str) -> bytes:
    request = f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {AUTH['Authorization']}\r\n\r\n"
    sock.sendall(request.encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next(
            line.split(b":")[1]
            for line in head.split(b"\r\n")[1:]
            if line.lower().startswith(b"content-length")
        )
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        body += chunk
    return head + b"\r\n\r\n" + body


def test_unexpected_exception_logs_one_line_and_keeps_the_connection(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    uvicorn_records: list[logging.LogRecord] = []
    capture = logging.Handler()
    capture.emit = uvicorn_records.append  # type: ignore[method-assign]
    app = create_app(make_settings(), state=ExplodingState(job_ttl=3600, cache_ttl=3600))
    with running(app, lifespan="on") as base:
        logging.getLogger("uvicorn.error").addHandler(capture)
        caplog.clear()
        try:
            host, port = base.removeprefix("http://").split(":")
            with socket.create_connection((host, int(port)), timeout=10) as sock:
                failed = _exchange(sock, "/images/jobs/job_boom")
                again = _exchange(sock, "/healthz")  # the same keep-alive connection
        finally:
            logging.getLogger("uvicorn.error").removeHandler(capture)
    assert failed.startswith(b"HTTP/1.1 500 ")
    assert b'"code":"internal_error"' in failed
    assert b"exploded" not in failed and b"Traceback" not in failed
    assert again.startswith(b"HTTP/1.1 200 ")
    request_id = next(
        line.split(b": ")[1].decode()
        for line in failed.split(b"\r\n")
        if line.lower().startswith(b"x-request-id")
    )
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    line = errors[0].getMessage()
    assert request_id in line and "RuntimeError" in line and "\n" not in line
    assert "10.0.0.5" not in line and errors[0].exc_info is None
    assert not [r for r in uvicorn_records if r.levelno >= logging.ERROR]


def test_unexpected_exception_is_not_reraised(make_settings: Callable[..., Settings]) -> None:
    """Starlette's ServerErrorMiddleware re-raises what reaches it: nothing must."""
    app = create_app(make_settings(), state=ExplodingState(job_ttl=3600, cache_ttl=3600))
    with TestClient(app) as client:
        response = client.get("/images/jobs/job_boom", headers=AUTH)
    assert response.status_code == 500
    assert error_of(response)["code"] == "internal_error"
