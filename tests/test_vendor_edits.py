"""Edits through the vendor backends and their fakes: Stability's inpaint and image-to-image
(multipart file parts, the mask turned white-means-paint), Replicate's input image by URL
(the fake downloads it, as Replicate does) and, through a real `imagegate serve`, the
gateway's own signed URL of a stored input reaching Replicate.
"""

from __future__ import annotations

import base64
import io
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from backends.base import GenerationRequest
from backends.errors import InvalidRequest
from backends.replicate import ReplicateBackend
from backends.stability import StabilityBackend
from gateway.auth import key_hash
from gateway.settings import default_config_path
from tests.conftest import API_KEY, AUTH
from tests.fakes.kit import built, decoded, raised, serving
from tests.fakes.replicate_server import FakeReplicate
from tests.fakes.stability_server import FakeStability
from tests.polling import wait_for_job
from tests.processes import serve, write_config

KEY = "vendor-edits-key-0123456789"
FILL = "black-forest-labs/flux-fill-pro"


def picture(width: int = 48, height: int = 48) -> bytes:
    image = Image.new("RGB", (width, height), (30, 90, 200))
    image.paste((250, 250, 0), (0, 0, width // 2, height // 2))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def transparent_top(width: int = 48, height: int = 48) -> bytes:
    """Our mask: transparent (edit here) in the top half, opaque below."""
    image = Image.new("RGBA", (width, height), (0, 0, 0, 255))
    image.paste((0, 0, 0, 0), (0, 0, width, height // 2))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def edit(model: str, **overrides: Any) -> GenerationRequest:
    fields: dict[str, Any] = {
        "prompt": "a lighthouse", "model": model, "width": 64, "height": 64,
        "operation": "edit", "images": (picture(),),
    }  # fmt: skip
    return GenerationRequest(**(fields | overrides))


def grey(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image.convert("L")


@pytest.fixture
def stability() -> Iterator[FakeStability]:
    with serving(FakeStability(KEY)) as fake:
        yield fake


@pytest.fixture
def replicate() -> Iterator[FakeReplicate]:
    with serving(FakeReplicate(KEY)) as fake:
        yield fake


async def test_stability_inpaints_with_the_mask_turned_white_where_to_paint(
    stability: FakeStability, http: httpx.AsyncClient
) -> None:
    backend = built(StabilityBackend, stability.base_url, http, key=KEY)
    [image] = (await backend.generate(edit("ultra", mask=transparent_top(), seed=3))).images
    assert decoded(image.data) == (64, 64)  # the fake answered the input's 48x48
    [sent] = stability.requests_to("/v2beta/stable-image/edit/inpaint")
    assert sent.files["image"] == [picture()]
    mask = grey(sent.files["mask"][0])
    assert mask.getpixel((10, 5)) == 255 and mask.getpixel((10, 40)) == 0
    assert sent.form["prompt"] == "a lighthouse" and sent.form["seed"] == "3"
    assert "aspect_ratio" not in sent.form


async def test_stability_image_to_image_without_a_mask(
    stability: FakeStability, http: httpx.AsyncClient
) -> None:
    backend = built(StabilityBackend, stability.base_url, http, key=KEY)
    [image] = (await backend.generate(edit("sd3.5-large"))).images
    assert decoded(image.data) == (64, 64)
    [sent] = stability.requests_to("/v2beta/stable-image/generate/sd3")
    assert sent.form["mode"] == "image-to-image" and 0 < float(sent.form["strength"]) < 1
    assert sent.form["model"] == "sd3.5-large" and sent.files["image"] == [picture()]
    failed = await raised(backend.generate(edit("core")))
    assert isinstance(failed, InvalidRequest) and "core" in failed.message
    assert not stability.requests_to("/generate/core")  # refused before any call


async def test_replicate_takes_the_image_by_url_and_the_mask_as_data(
    replicate: FakeReplicate, http: httpx.AsyncClient
) -> None:
    backend = built(
        ReplicateBackend, replicate.base_url, http, key=KEY,
        poll_interval=0.02, image_input="image", mask_input="mask",
    )  # fmt: skip
    assert backend.capabilities(FILL).input_images == 1
    replicate.files["input"] = (picture(), "image/png")
    url = f"{replicate.base_url}/files/input"
    request = edit(FILL, image_urls=(url,), mask=transparent_top())
    [image] = (await backend.generate(request)).images
    assert decoded(image.data) == (64, 64)
    [created] = replicate.requests_to(f"/v1/models/{FILL}/predictions")
    assert created.json["input"]["image"] == url
    assert created.json["input"]["mask"].startswith("data:image/png;base64,")
    assert replicate.fetched["image"] == [picture()]
    assert grey(replicate.fetched["mask"][0]).getpixel((10, 5)) == 255
    no_url = await backend.generate(edit(FILL))  # no URL from the host: a data: URL
    assert len(no_url.images) == 1 and replicate.fetched["image"][1] == picture()
    plain = built(ReplicateBackend, replicate.base_url, http, key=KEY)
    assert plain.capabilities(FILL).input_images == 0  # no image_input: no edits


def test_a_job_api_edit_reaches_replicate_as_the_gateways_signed_url(tmp_path: Path) -> None:
    with serving(FakeReplicate(KEY)) as fake:
        config = tomllib.loads(default_config_path().read_text())
        config["server"]["data_dir"] = str(tmp_path / "data")
        config["tenants"] = {"demo": {"keys": [key_hash(API_KEY)], "generate_key": False}}
        config["retry"] = {"max_attempts": 1, "initial": "10ms", "max": "10ms"}
        config["backends"] = {
            "vendor": {
                "type": "replicate",
                "base_url": fake.base_url,
                "api_key_env": "IMAGEGATE_TEST_REPLICATE_KEY",
                "prices": {FILL: "0.05"},
                "options": {"poll_interval": 0.02, "image_input": "image"},
            }
        }
        config["models"] = {
            "fill": {"default": True, "targets": [{"backend": "vendor", "model": FILL}],
                     "sizes": ["64x64"]},
        }  # fmt: skip
        path = write_config(tmp_path / "gateway.toml", config)
        process, base = serve(path, tmp_path, IMAGEGATE_TEST_REPLICATE_KEY=KEY)
        try:
            with httpx.Client(base_url=base, timeout=30) as client:
                source = "data:image/png;base64," + base64.b64encode(picture()).decode()
                accepted = client.post(
                    "/images/jobs", json={"prompt": "fill it", "images": [source]}, headers=AUTH
                )
                assert accepted.status_code == 202, accepted.text
                job = wait_for_job(client, accepted.json()["data"]["jobId"], AUTH)  # type: ignore[arg-type]
        finally:
            process.stop()
        assert job["status"] == "SUCCEEDED", job
        [created] = fake.requests_to(f"/v1/models/{FILL}/predictions")
        sent = created.json["input"]["image"]
        assert sent.startswith(f"{base}/files/images/") and "sig=" in sent
        assert fake.fetched["image"] == [picture()]
        assert job["inputImages"][0]["sha256"] in sent
