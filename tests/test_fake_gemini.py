"""The Gemini fake answers Google's official SDK (google-genai) the way the real API does."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator

import httpx
import pytest
from google import genai
from google.genai import errors, types

from tests.fakes.gemini_server import FakeGemini, quota_exceeded
from tests.fakes.kit import decoded, serving
from tests.fakes.script import Step, error

KEY = "AIzaTestKey0123456789"
MODEL = "gemini-2.5-flash-image"


@pytest.fixture
def fake() -> Iterator[FakeGemini]:
    with serving(FakeGemini(KEY)) as fake:
        yield fake


@pytest.fixture
def sdk(fake: FakeGemini) -> Iterator[Callable[..., genai.Client]]:
    """`sdk(key=KEY)`: the official client pointed at the fake (closed after the test)."""
    clients: list[genai.Client] = []

    def make(key: str = KEY) -> genai.Client:
        options = types.HttpOptions(base_url=fake.base_url)
        clients.append(genai.Client(api_key=key, http_options=options))
        return clients[-1]

    yield make
    for made in clients:
        made.close()


def image_config(ratio: str = "16:9") -> types.GenerateContentConfig:
    return types.GenerateContentConfig(
        response_modalities=["IMAGE"],
        image_config=types.ImageConfig(aspect_ratio=ratio),
        seed=7,
    )


def test_the_sdk_gets_inline_image_data_at_the_aspect_ratio(
    fake: FakeGemini, sdk: Callable[..., genai.Client]
) -> None:
    response = sdk().models.generate_content(
        model=MODEL, contents="a lighthouse", config=image_config()
    )

    [request] = fake.requests_to(f"/models/{MODEL}:generateContent")
    assert request.headers["x-goog-api-key"] == KEY
    assert request.json["generationConfig"]["imageConfig"] == {"aspectRatio": "16:9"}
    assert request.json["generationConfig"]["seed"] == 7
    parts = response.candidates[0].content.parts  # type: ignore[index, union-attr]
    [image] = [part.inline_data for part in parts if part.inline_data]  # type: ignore[union-attr]
    assert image.mime_type == "image/png"
    assert decoded(image.data) == (168, 96)  # type: ignore[arg-type]
    assert response.usage_metadata.candidates_token_count == 1290  # type: ignore[union-attr]


def test_a_wrong_key_is_a_400_invalid_argument_with_api_key_invalid(
    fake: FakeGemini, sdk: Callable[..., genai.Client]
) -> None:
    with pytest.raises(errors.ClientError) as caught:
        sdk("AIzaWrong").models.generate_content(model=MODEL, contents="x")
    assert (caught.value.code, caught.value.status) == (400, "INVALID_ARGUMENT")
    assert caught.value.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"


def test_quota_errors_carry_retry_info_not_retry_after(
    fake: FakeGemini, sdk: Callable[..., genai.Client]
) -> None:
    fake.will(error(429, quota_exceeded("17s")))
    with pytest.raises(errors.ClientError) as caught:
        sdk().models.generate_content(model=MODEL, contents="x")
    assert caught.value.code == 429
    assert "retry-after" not in caught.value.response.headers  # type: ignore[union-attr]
    details = caught.value.details["error"]["details"]
    assert {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "17s"} in details


def test_blocked_prompts_and_withheld_images(
    fake: FakeGemini, sdk: Callable[..., genai.Client]
) -> None:
    fake.will(Step("blocked"), Step("image_safety"))
    blocked = sdk().models.generate_content(model=MODEL, contents="x")
    assert blocked.candidates is None
    assert blocked.prompt_feedback.block_reason == "PROHIBITED_CONTENT"  # type: ignore[union-attr]
    withheld = sdk().models.generate_content(model=MODEL, contents="x")
    assert withheld.candidates[0].finish_reason == "IMAGE_SAFETY"  # type: ignore[index]
    parts = withheld.candidates[0].content.parts  # type: ignore[index, union-attr]
    assert all(part.inline_data is None for part in parts)  # type: ignore[union-attr]


def test_several_candidates_are_refused(fake: FakeGemini, sdk: Callable[..., genai.Client]) -> None:
    config = types.GenerateContentConfig(candidate_count=2)
    with pytest.raises(errors.ClientError) as caught:
        sdk().models.generate_content(model=MODEL, contents="x", config=config)
    assert caught.value.code == 400


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
