"""Each new backend type through a real `imagegate serve` process and its vendor's fake.

One process per vendor: the config names the backend type, the key comes from the
environment, a job is submitted over HTTP and its image downloaded through the gateway;
where the vendor has a safety system, a refused prompt fails the job `content_rejected`
without the vendor key in the job.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.auth import key_hash
from gateway.settings import default_config_path
from tests.conftest import API_KEY, AUTH
from tests.fakes.automatic1111_server import FakeAutomatic1111
from tests.fakes.azure_openai_server import FakeAzureOpenAI, content_filtered
from tests.fakes.bfl_server import FakeBFL
from tests.fakes.comfyui_server import FakeComfyUI
from tests.fakes.fal_server import FakeFal
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.kit import decoded, serving
from tests.fakes.openai_compatible_server import FakeOpenAICompatible
from tests.fakes.script import FakeVendor, Step, error
from tests.polling import wait_for_job
from tests.processes import ROOT, serve, write_config

ENV = "IMAGEGATE_TEST_VENDOR_KEY"
WORKFLOW = str(ROOT / "config" / "comfyui" / "txt2img-sdxl.json")


@dataclass(frozen=True)
class Vendor:
    type: str
    fake: Callable[[], FakeVendor]
    model: str
    key: str | None
    backend: Callable[[str], dict[str, Any]] = lambda base: {"base_url": base}
    refusal: Step | None = None  # what the fake answers for a refused prompt
    called: str = ""  # a path the generation request went to
    size: str = "64x64"


VENDORS = [
    Vendor("bfl", lambda: FakeBFL("bfl-key-0123456789"), "flux-pro-1.1", "bfl-key-0123456789",
           lambda base: {"base_url": base, "options": {"poll_interval": 0.02}},
           Step("request_moderated"), "/v1/flux-pro-1.1"),
    Vendor("gemini", lambda: FakeGemini("AIzaKey0123456789"), "gemini-2.5-flash-image",
           "AIzaKey0123456789", refusal=Step("blocked"), called=":generateContent"),
    Vendor("fal", lambda: FakeFal("id:secret0123456789"), "fal-ai/flux/dev", "id:secret0123456789",
           lambda base: {"base_url": base, "options": {"poll_interval": 0.02}},
           Step("refused"), "/fal-ai/flux/dev"),
    Vendor("azure-openai", lambda: FakeAzureOpenAI("azure0123456789", {"gpt": "gpt-image-1"}),
           "gpt", "azure0123456789",
           lambda base: {"base_url": base, "options": {"deployments": {"gpt": "gpt-image-1"}}},
           error(400, content_filtered()), "/openai/deployments/gpt/", "1024x1024"),
    Vendor("openai-compatible", lambda: FakeOpenAICompatible(key=None), "sdxl", None,
           lambda base: {"base_url": f"{base}/v1"}, called="/v1/images/generations"),
    Vendor("automatic1111", lambda: FakeAutomatic1111(), "default", None,
           called="/sdapi/v1/txt2img"),
    Vendor("comfyui", lambda: FakeComfyUI(), "sdxl", None,
           lambda base: {"base_url": base, "options": {
               "workflow": WORKFLOW, "poll_interval": 0.02,
               "inputs": {"prompt": "6.text", "negative_prompt": "7.text", "width": "5.width",
                          "height": "5.height", "seed": "3.seed", "n": "5.batch_size"}}},
           called="/prompt"),
]  # fmt: skip


@contextmanager
def gateway(vendor: Vendor, fake: FakeVendor, tmp_path: Path) -> Iterator[httpx.Client]:
    config = tomllib.loads(default_config_path().read_text())
    config["server"]["data_dir"] = str(tmp_path / "data")
    config["tenants"] = {"demo": {"keys": [key_hash(API_KEY)], "generate_key": False}}
    config["retry"] = {"max_attempts": 1, "initial": "10ms", "max": "10ms"}
    # Vendors are priced per image; self-hosted servers cost nothing.
    price = "0.04" if vendor.key else "0"
    backend = {
        "type": vendor.type,
        "timeout": "20s",
        "prices": {vendor.model: price},
        **vendor.backend(fake.base_url),
    }
    if vendor.key:
        backend["api_key_env"] = ENV
    config["backends"] = {"vendor": backend}
    config["models"] = {
        "default": {
            "targets": [{"backend": "vendor", "model": vendor.model}],
            "sizes": [vendor.size],
            "default": True,
        }
    }
    path = write_config(tmp_path / "gateway.toml", config)
    process, base = serve(path, tmp_path, **({ENV: vendor.key} if vendor.key else {}))
    try:
        with httpx.Client(base_url=base, timeout=10) as client:
            yield client
    finally:
        process.stop()


def submit(client: httpx.Client, prompt: str) -> dict[str, Any]:
    answer = client.post("/images/jobs", json={"prompt": prompt, "noCache": True}, headers=AUTH)
    assert answer.status_code == 202, answer.text
    job: dict[str, Any] = wait_for_job(client, answer.json()["data"]["jobId"], AUTH, timeout=30)  # type: ignore[arg-type]
    return job


@pytest.mark.parametrize("vendor", VENDORS, ids=lambda vendor: vendor.type)
def test_a_job_through_serve_and_the_vendor_fake(vendor: Vendor, tmp_path: Path) -> None:
    with serving(vendor.fake()) as fake, gateway(vendor, fake, tmp_path) as client:
        job = submit(client, "a lighthouse at dusk")
        assert job["status"] == "SUCCEEDED", job
        assert job["backend"] == "vendor"
        assert job["cost"] == ("0.04" if vendor.key else "0.00")
        image = client.get(job["imageUrl"])
        assert image.status_code == 200
        width, _, height = vendor.size.partition("x")
        assert decoded(image.content) == (int(width), int(height))
        assert any(vendor.called in r.path for r in fake.received)

        if vendor.refusal is not None:
            fake.will(vendor.refusal)
            refused = submit(client, "something the vendor refuses")
            assert refused["status"] == "FAILED"
            assert refused["error"]["code"] == "content_rejected"
            assert refused["cost"] == "0.00"  # each of these refusals is made before generating
            assert vendor.key not in str(refused)
