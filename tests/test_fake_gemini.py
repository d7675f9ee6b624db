"""The Gemini fake answers what google-genai sends (paths, headers and bodies as the SDK's
models.py builds them) the way the real API does."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fakes.gemini_server import FakeGemini, quota_exceeded
from tests.fakes.kit import decoded, serving
from tests.fakes.script import Step, error

KEY = "AIzaTestKey0123456789"
MODEL = "gemini-2.5-flash-image"


@pytest.fixture
def fake() -> Iterator[FakeGemini]:
    with serving(FakeGemini(KEY)) as fake:
        yield fake


def generate(
    fake: FakeGemini, key: str = KEY, version: str = "v1beta", **config: Any
) -> httpx.Response:
    return httpx.post(
        f"{fake.base_url}/{version}/models/{MODEL}:generateContent",
        json={
            "contents": [{"role": "user", "parts": [{"text": "a lighthouse"}]}],
            "generationConfig": config,
        },
        headers={"x-goog-api-key": key},
    )


def test_inline_image_data_comes_at_the_aspect_ratio(fake: FakeGemini) -> None:
    answer = generate(
        fake, responseModalities=["IMAGE"], imageConfig={"aspectRatio": "16:9"}, seed=7
    ).json()

    [request] = fake.requests_to(f"/models/{MODEL}:generateContent")
    assert request.headers["x-goog-api-key"] == KEY
    [candidate] = answer["candidates"]
    [image] = [part["inlineData"] for part in candidate["content"]["parts"] if "inlineData" in part]
    assert image["mimeType"] == "image/png"
    assert decoded(base64.b64decode(image["data"])) == (168, 96)
    assert answer["usageMetadata"]["candidatesTokenCount"] == 1290
    assert generate(fake, version="v1").status_code == 200  # the SDK 3.x default version


def test_a_wrong_key_is_a_400_invalid_argument_with_api_key_invalid(fake: FakeGemini) -> None:
    wrong = generate(fake, key="AIzaWrong")
    assert wrong.status_code == 400
    assert wrong.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert wrong.json()["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    assert generate(fake, key="").status_code == 403


def test_quota_errors_carry_retry_info_not_retry_after(fake: FakeGemini) -> None:
    fake.will(error(429, quota_exceeded("17s")))
    limited = generate(fake)
    assert limited.status_code == 429
    assert "retry-after" not in limited.headers
    details = limited.json()["error"]["details"]
    assert {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "17s"} in details


def test_blocked_prompts_and_withheld_images(fake: FakeGemini) -> None:
    fake.will(Step("blocked"), Step("image_safety"), Step("text_only"))
    blocked = generate(fake).json()
    assert "candidates" not in blocked
    assert blocked["promptFeedback"]["blockReason"] == "PROHIBITED_CONTENT"
    [withheld] = generate(fake).json()["candidates"]
    assert withheld["finishReason"] == "IMAGE_SAFETY"
    assert all("inlineData" not in part for part in withheld["content"]["parts"])
    [prose] = generate(fake).json()["candidates"]
    assert prose["finishReason"] == "STOP"
    assert all("inlineData" not in part for part in prose["content"]["parts"])


def test_several_candidates_are_refused(fake: FakeGemini) -> None:
    assert generate(fake, candidateCount=2).status_code == 400


def predict(fake: FakeGemini, **parameters: object) -> httpx.Response:
    """Imagen's Gemini-API wire format (the SDK no longer sends it outside Vertex)."""
    return httpx.post(
        f"{fake.base_url}/v1beta/models/imagen-4.0-generate-001:predict",
        json={"instances": [{"prompt": "a fox"}], "parameters": parameters},
        headers={"x-goog-api-key": KEY},
    )


def test_imagen_predict_answers_sample_count_images(fake: FakeGemini) -> None:
    answer = predict(fake, sampleCount=2, aspectRatio="4:3").json()
    assert len(answer["predictions"]) == 2
    data = base64.b64decode(answer["predictions"][0]["bytesBase64Encoded"])
    assert decoded(data) == (160, 112)


def test_imagen_drops_filtered_images_and_refuses_vertex_only_fields(fake: FakeGemini) -> None:
    fake.will(Step("filtered"), Step("all_filtered"))
    kept = predict(fake, sampleCount=2, includeRaiReason=True).json()["predictions"]
    assert "bytesBase64Encoded" in kept[0] and "raiFilteredReason" in kept[1]
    assert predict(fake, sampleCount=2).json() == {}
    refused = predict(fake, sampleCount=1, seed=3)
    assert refused.status_code == 400
    assert refused.json()["error"]["status"] == "INVALID_ARGUMENT"
