"""The official `openai` SDK, sync and async, against a real `imagegate serve` on 127.0.0.1.

The /v1 surface is the job API's admission, cache and budget behind OpenAI's shapes: the
SDK's own exception classes come out of the gateway's errors, and a request through one
surface is served from the cache of the other.
"""

from __future__ import annotations

import base64
import io
import tomllib
from collections.abc import Iterator

import httpx
import openai
import pytest
from PIL import Image

from gateway.auth import key_hash
from gateway.settings import default_config_path
from tests.fakes.kit import serving
from tests.fakes.openai_server import FakeOpenAI, content_policy
from tests.fakes.script import error
from tests.polling import wait_for_job
from tests.processes import serve, write_config

KEY = "ig_openai_surface_key_0123456789"
LIMITED_KEY = "ig_openai_surface_limited_0123456789"
BROKE_KEY = "ig_openai_surface_broke_0123456789"
QUICK_KEY = "ig_openai_surface_quick_0123456789"
VENDOR_KEY = "sk-openai-surface-vendor-0123456789"


@pytest.fixture(scope="module")
def vendor() -> Iterator[FakeOpenAI]:
    with serving(FakeOpenAI(VENDOR_KEY)) as fake:
        yield fake


@pytest.fixture(scope="module")
def base_url(vendor: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("openai-surface")
    config = tomllib.loads(default_config_path().read_text())
    config["server"]["data_dir"] = str(tmp / "data")
    config["retry"] = {"max_attempts": 1, "initial": "10ms", "max": "10ms"}
    config["openai_api"] = {"wait_limit": "30s"}
    config["plans"] = {
        "limited": {"rate": "1/minute"},
        "broke": {"budget": "0.05/day"},
        "quick": {"rate": "1/5second"},
    }
    config["tenants"] = {
        "demo": {"keys": [key_hash(KEY)], "generate_key": False},
        "limited": {"plan": "limited", "keys": [key_hash(LIMITED_KEY)]},
        "broke": {"plan": "broke", "keys": [key_hash(BROKE_KEY)], "models": ["procedural"]},
        "quick": {"plan": "quick", "keys": [key_hash(QUICK_KEY)]},
    }
    config["backends"] = {
        "procedural": {"type": "procedural", "prices": {"default": "0.04"}},
        "slow": {"type": "procedural", "latency": "2s"},
        "vendor": {
            "type": "openai",
            "base_url": f"{vendor.base_url}/v1",
            "api_key_env": "IMAGEGATE_TEST_OPENAI_KEY",
            "prices": {"default": "0.04"},
        },
    }
    config["models"] = {
        "procedural": {
            "default": True,
            "targets": [{"backend": "procedural", "model": "procedural-v1"}],
            "sizes": ["256x256", "64x64"],
            "openai_names": ["gpt-image-1"],
        },
        "vendor": {"targets": [{"backend": "vendor", "model": "dall-e-3"}], "sizes": ["1024x1024"]},
        "slow": {"targets": [{"backend": "slow", "model": "procedural-v1"}], "sizes": ["64x64"]},
    }
    path = write_config(tmp / "gateway.toml", config)
    process, base = serve(path, tmp, IMAGEGATE_TEST_OPENAI_KEY=VENDOR_KEY)
    try:
        yield base
    finally:
        process.stop()


OPENED: list[openai.OpenAI] = []


@pytest.fixture(autouse=True)
def close_clients() -> Iterator[None]:
    yield
    while OPENED:
        OPENED.pop().close()


def client(base_url: str, key: str = KEY, **options: object) -> openai.OpenAI:
    """An SDK client pointed at the gateway, closed after the test."""
    sdk = openai.OpenAI(api_key=key, base_url=f"{base_url}/v1", **options)  # type: ignore[arg-type]
    OPENED.append(sdk)
    return sdk


def size_of(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        return image.size


def test_generate_b64_json(base_url: str) -> None:
    answer = client(base_url).images.generate(
        model="gpt-image-1", prompt="a lighthouse at dusk", size="256x256", n=2,
        response_format="b64_json", quality="auto",
    )  # fmt: skip
    assert answer.data is not None and len(answer.data) == 2
    pictures = [base64.b64decode(item.b64_json or "") for item in answer.data]
    assert [size_of(picture) for picture in pictures] == [(256, 256), (256, 256)]
    assert pictures[0] != pictures[1]
    assert (answer.size, answer.output_format) == ("256x256", "png")
    assert answer.created > 0


def test_generate_url_answers_the_gateways_own_signed_url(base_url: str) -> None:
    answer = client(base_url).images.generate(prompt="a harbour", size="64x64")
    assert answer.data is not None and answer.data[0].url is not None
    url = answer.data[0].url
    assert url.startswith(f"{base_url}/files/") and "sig=" in url
    assert size_of(httpx.get(url).content) == (64, 64)


async def test_async_client_and_size_auto(base_url: str) -> None:
    async with openai.AsyncOpenAI(api_key=KEY, base_url=f"{base_url}/v1") as aclient:
        answer = await aclient.images.generate(
            model="procedural", prompt="a field", size="auto", response_format="b64_json"
        )
    assert answer.data is not None
    assert size_of(base64.b64decode(answer.data[0].b64_json or "")) == (256, 256)


def test_one_cache_for_both_surfaces(base_url: str) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=base_url, timeout=30) as http:
        accepted = http.post(
            "/images/jobs", json={"prompt": "shared", "size": "64x64"}, headers=auth
        )
        assert accepted.status_code == 202
        first = wait_for_job(http, accepted.json()["data"]["jobId"], auth)  # type: ignore[arg-type]
        raw = client(base_url).images.with_raw_response.generate(prompt="shared", size="64x64")
        job = http.get(f"/images/jobs/{raw.headers['x-imagegate-job-id']}", headers=auth)
    assert job.json()["data"]["cached"] is True and job.json()["data"]["cost"] == "0.00"
    served = raw.parse()
    assert served.data is not None and served.data[0].url is not None
    assert httpx.get(served.data[0].url).content == httpx.get(first["imageUrl"]).content


def test_models_list_and_retrieve(base_url: str) -> None:
    sdk = client(base_url)
    assert {model.id for model in sdk.models.list()} == {
        "procedural",
        "gpt-image-1",
        "vendor",
        "slow",
    }
    assert sdk.models.retrieve("vendor").id == "vendor"
    with pytest.raises(openai.NotFoundError) as missing:
        sdk.models.retrieve("dall-e-9")
    assert missing.value.code == "model_not_found"


def test_sdk_error_classes(base_url: str, vendor: FakeOpenAI) -> None:
    with pytest.raises(openai.AuthenticationError) as unknown:
        client(base_url, key="ig_not_a_key").images.generate(prompt="x")
    assert unknown.value.code == "invalid_api_key"
    sdk = client(base_url, max_retries=0)
    with pytest.raises(openai.BadRequestError) as style:
        sdk.images.generate(prompt="x", size="64x64", style="vivid")
    assert (style.value.param, style.value.type) == ("style", "invalid_request_error")
    with pytest.raises(openai.BadRequestError) as too_big:
        sdk.images.generate(prompt="x", size="4096x4096")
    assert too_big.value.param == "size"
    with pytest.raises(openai.BadRequestError) as unknown_model:
        sdk.images.generate(prompt="x", model="dall-e-9")
    assert unknown_model.value.code == "model_not_found"
    vendor.will(error(400, content_policy()))
    with pytest.raises(openai.BadRequestError) as refused:
        sdk.images.generate(prompt="something refused", model="vendor")
    assert refused.value.code == "content_policy_violation"
    assert VENDOR_KEY not in str(refused.value.body)
    vendor.will(error(500, {"error": {"message": "boom", "type": "server_error"}}))
    with pytest.raises(openai.InternalServerError) as failed:
        sdk.images.generate(prompt="the vendor fails", model="vendor")
    assert failed.value.status_code == 502
    with pytest.raises(openai.NotFoundError):
        sdk.get("/no/such/route", cast_to=object)


def test_rate_limit_is_shared_with_the_job_api(base_url: str) -> None:
    auth = {"Authorization": f"Bearer {LIMITED_KEY}"}
    taken = httpx.post(f"{base_url}/images/jobs", json={"prompt": "one"}, headers=auth)
    assert taken.status_code == 202
    with pytest.raises(openai.RateLimitError) as limited:
        client(base_url, LIMITED_KEY, max_retries=0).images.generate(prompt="two", size="64x64")
    assert limited.value.code == "rate_limit_exceeded"
    assert int(limited.value.response.headers["retry-after"]) >= 1


def test_budget_is_shared_with_the_job_api(base_url: str) -> None:
    # 0.05/day holds one 0.04 image: the job API spends it, the SDK is refused.
    auth = {"Authorization": f"Bearer {BROKE_KEY}"}
    taken = httpx.post(f"{base_url}/images/jobs", json={"prompt": "spend"}, headers=auth)
    assert taken.status_code == 202
    with pytest.raises(openai.RateLimitError) as broke:
        client(base_url, BROKE_KEY).images.generate(prompt="more", size="64x64")
    assert (broke.value.code, broke.value.type) == ("insufficient_quota", "insufficient_quota")


def test_prefer_respond_async(base_url: str) -> None:
    answer = httpx.post(
        f"{base_url}/v1/images/generations",
        json={"prompt": "later", "size": "64x64"},
        headers={"Authorization": f"Bearer {KEY}", "Prefer": "respond-async"},
    )
    assert answer.status_code == 202
    assert answer.headers["location"] == f"/images/jobs/{answer.json()['id']}"


def test_stream_emulated_with_one_completed_event(base_url: str) -> None:
    stream = client(base_url).images.generate(prompt="streamed", size="64x64", stream=True)
    events = list(stream)
    assert [event.type for event in events] == ["image_generation.completed"]
    assert size_of(base64.b64decode(events[0].b64_json)) == (64, 64)


def test_a_key_sees_and_uses_only_its_models(base_url: str) -> None:
    sdk = client(base_url, BROKE_KEY, max_retries=0)
    assert {model.id for model in sdk.models.list()} == {"procedural", "gpt-image-1"}
    with pytest.raises(openai.NotFoundError):
        sdk.models.retrieve("vendor")
    with pytest.raises(openai.PermissionDeniedError) as forbidden:
        sdk.images.generate(prompt="not mine", model="vendor")
    assert (forbidden.value.code, forbidden.value.param) == ("model_forbidden", "model")
    jobs = httpx.post(
        f"{base_url}/images/jobs",
        json={"prompt": "not mine", "model": "vendor"},
        headers={"Authorization": f"Bearer {BROKE_KEY}"},
    )
    assert jobs.status_code == 403 and jobs.json()["error"]["code"] == "model_forbidden"


def test_the_sdks_own_retry_honours_retry_after(base_url: str) -> None:
    sdk = client(base_url, QUICK_KEY, max_retries=2)
    sdk.images.generate(prompt="first of the second", size="64x64")
    raw = sdk.images.with_raw_response.generate(prompt="second of the second", size="64x64")
    # The second call met the rate (429 with Retry-After): the SDK waited as told and retried.
    assert raw.retries_taken >= 1 and raw.parse().data


def test_a_client_that_hangs_up_while_waiting_leaves_the_job_running(base_url: str) -> None:
    prompt = "left behind by its client"
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{base_url}/v1/images/generations",
            json={"prompt": prompt, "model": "slow", "size": "64x64"},
            headers={"Authorization": f"Bearer {KEY}"},
            timeout=httpx.Timeout(10, read=0.5),
        )
    # An identical request joins the job still running (or, once it is done, is served from
    # its result): either way the first job went on without its client.
    auth = {"Authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=base_url, timeout=30) as http:
        again = http.post(
            "/images/jobs", json={"prompt": prompt, "model": "slow", "size": "64x64"}, headers=auth
        )
        assert again.status_code == 202, again.text
        job = wait_for_job(http, again.json()["data"]["jobId"], auth)  # type: ignore[arg-type]
    assert job["status"] == "SUCCEEDED" and (job["joined"] or job["cached"])
