"""Charged from the vendor's own usage, through a real `imagegate serve` process: the fake
OpenAI reports gpt-image tokens; the job costs exactly their token arithmetic, the table's
estimate was reserved, and the tenant's counter ends at what was charged."""

from __future__ import annotations

import asyncio
import tomllib
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.auth import key_hash
from gateway.budgets import Budget, Budgets
from gateway.settings import default_config_path, load_settings
from gateway.state import state_from_settings
from tests.conftest import API_KEY, AUTH
from tests.fakes.kit import serving
from tests.fakes.openai_server import FakeOpenAI
from tests.polling import wait_for_job
from tests.processes import serve, write_config

VENDOR_KEY = "sk-test-openai-usage-0123456789"
ENV = "IMAGEGATE_TEST_OPENAI_KEY"
TABLE = {
    "1024x1024": {"low": "0.011", "medium": "0.042", "high": "0.167"},
    "1536x1024": {"low": "0.016", "medium": "0.063", "high": "0.25"},
}
TOKENS = {"text_input": "5.00", "image_input": "10.00", "image_output": "40.00"}


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with serving(FakeOpenAI(VENDOR_KEY)) as fake:
        yield fake


def config(fake: FakeOpenAI, tmp_path: Path, redis_url: str) -> Path:
    data: dict[str, Any] = tomllib.loads(default_config_path().read_text())
    data["server"]["data_dir"] = str(tmp_path / "data")
    data["state"]["url"] = redis_url
    data["tenants"] = {"demo": {"plan": "free", "keys": [key_hash(API_KEY)]}}
    data["plans"]["free"].update(budget="5.00/day", max_cost_per_job="1.00")
    data["models"] = {
        "gpt-image": {
            "default": True,
            "targets": [{"backend": "openai", "model": "gpt-image-1"}],
            "sizes": list(TABLE),
        }
    }
    data["backends"] = {
        "openai": {
            "type": "openai",
            "base_url": f"{fake.base_url}/v1",
            "api_key_env": ENV,
            "prices": {"gpt-image-1": TABLE},
            "token_prices": {"gpt-image-1": TOKENS},
        }
    }
    return write_config(tmp_path / "gateway.toml", data)


async def spent(path: Path) -> Decimal:
    settings = load_settings(path, environ={})
    state = state_from_settings(settings)
    try:
        return await Budgets(state).spent("demo", Budget(Decimal("5.00"), 86400))
    finally:
        await state.aclose()


def test_the_job_costs_its_token_arithmetic(
    fake: FakeOpenAI, tmp_path: Path, redis_url: str
) -> None:
    path = config(fake, tmp_path, redis_url)
    process, base = serve(path, tmp_path, **{ENV: VENDOR_KEY})
    try:
        with httpx.Client(base_url=base, timeout=10) as client:
            body = {"prompt": "a red fox at dawn", "size": "1536x1024", "quality": "high", "n": 2}
            answer = client.post("/images/jobs", json=body, headers=AUTH)
            assert answer.status_code == 202, answer.text
            job = wait_for_job(client, answer.json()["data"]["jobId"], AUTH, timeout=30)  # type: ignore[arg-type]
    finally:
        process.stop()
    assert job["status"] == "SUCCEEDED", job
    (attempt,) = job["attemptLog"]
    # What the fake billed: 5 text tokens in, 2 x 6208 image tokens out.
    assert attempt["usage"] == {
        "images": 2,
        "inputTokens": 5,
        "inputTextTokens": 5,
        "inputImageTokens": 0,
        "outputTokens": 12416,
    }
    # 5 x $5 + 12,416 x $40 per million = $0.496665; the table's 2 x 0.25 was the estimate.
    assert attempt["estimatedCost"] == "0.50"
    assert attempt["cost"] == job["cost"] == "0.496665"
    assert asyncio.run(spent(path)) == Decimal("0.496665")  # reserved 0.50, 0.003335 refunded
