"""`GET /openapi.json` stays true: every route of the app is described and nothing else, it
is a valid OpenAPI 3.1 document, and the error codes it lists are the registry's.
(tests/test_openapi_fuzz.py has schemathesis check every operation against the app.)"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from openapi_spec_validator import validate
from starlette.routing import Route
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.errors import JOB_FAILURE_STATUS, PUBLIC_ERRORS
from gateway.openapi.paths import JOB_FAILURES
from gateway.settings import Settings

CONVERTER = re.compile(r"\{(\w+):\w+\}")
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def app_operations(settings: Settings) -> set[tuple[str, str]]:
    """(path, method) of every route, HEAD included only where a route asks for it by name
    (Starlette answers HEAD on every GET route by itself)."""
    found = set()
    for route in create_app(settings).routes:
        assert isinstance(route, Route), f"{route!r}: describe mounts in the document too"
        path = CONVERTER.sub(r"{\1}", route.path)
        for method in route.methods or ():
            found.add((path, method.lower()))
    return found


def documented_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (path, method)
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    }


def documented_codes(document: dict[str, Any]) -> set[tuple[int, str]]:
    """(status, code) of every error response, the document's own responses included."""
    answers = [
        (int(status), answer)
        for item in document["paths"].values()
        for method, operation in item.items()
        if method in METHODS
        for status, answer in operation["responses"].items()
    ]
    own = document["components"]["responses"]
    answers += [(404, own["NotFound"]), (405, own["MethodNotAllowed"])]
    return {
        (status, code)
        for status, answer in answers
        for content in answer.get("content", {}).values()
        for code in content["schema"].get("x-imagegate-codes", ())
    }


def fetched(make_client: Callable[..., TestClient]) -> dict[str, Any]:
    response = make_client().get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document: dict[str, Any] = response.json()
    return document


def test_the_document_is_valid_openapi_3_1(make_client: Callable[..., TestClient]) -> None:
    document = fetched(make_client)
    assert document["openapi"] == "3.1.0"
    validate(document)  # raises on any violation of the 3.1 schema
    assert document["servers"] == [{"url": "http://testserver"}]


def test_every_route_is_described_and_nothing_else(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings]
) -> None:
    described = documented_operations(fetched(make_client))
    routed = app_operations(make_settings())
    implicit_heads = {(path, "head") for path, method in described if method == "get"}
    assert routed - implicit_heads - described == set(), "routes missing from /openapi.json"
    assert described - routed == set(), "operations no route answers"


def test_every_operation_has_a_body_schema_where_it_takes_a_body(
    make_client: Callable[..., TestClient],
) -> None:
    document = fetched(make_client)
    takes_body = {"/images/jobs", "/images/batches", "/v1/images/generations",
                  "/v1/images/edits", "/v1/images/variations"}  # fmt: skip
    for path in takes_body:
        content = document["paths"][path]["post"]["requestBody"]["content"]
        assert all("schema" in media for media in content.values()), path


def test_documented_error_codes_are_the_registry(make_client: Callable[..., TestClient]) -> None:
    documented = documented_codes(fetched(make_client))
    public = {(status, code) for code, statuses in PUBLIC_ERRORS.items() for status in statuses}
    # /v1 calls that wait for a job also answer with the job's failure code.
    job_failures = {(status, code) for status, codes in JOB_FAILURES.items() for code in codes}
    assert documented == public | job_failures
    for code, status in JOB_FAILURE_STATUS.items():
        assert (status, code) in job_failures, code


def test_sizes_follow_the_chosen_model(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings]
) -> None:
    """A body the document allows is one the gateway accepts: a size allowed only for
    another alias is outside the schema."""
    from jsonschema import Draft202012Validator

    settings = make_settings(
        models={
            "small": {
                "targets": [{"backend": "procedural", "model": "p"}],
                "sizes": ["256x256"],
            }
        }
    )
    document = make_client(settings).get("/openapi.json").json()
    schema = document["paths"]["/images/jobs"]["post"]["requestBody"]["content"][
        "application/json"
    ]["schema"]
    validator = Draft202012Validator(schema)
    assert validator.is_valid({"prompt": "a cat", "model": "small", "size": "256x256"})
    assert not validator.is_valid({"prompt": "a cat", "model": "small", "size": "512x512"})
    assert validator.is_valid({"prompt": "a cat", "size": "512x512"})  # the default alias
    assert not validator.is_valid({"prompt": "   "})
    assert not validator.is_valid({"prompt": "a cat", "mask": "data:,"})
