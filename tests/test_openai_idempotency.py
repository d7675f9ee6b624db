"""`Idempotency-Key` on the /v1 surface, through the official `openai` SDK: a retried
generation or (multipart) edit replays its first answer and makes no second job; the same
key with another request is OpenAI's 422; a streamed answer is not replayed."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator

import openai
import pytest
from PIL import Image
from starlette.testclient import TestClient

from gateway.settings import Settings
from tests.conftest import API_KEY, AUTH


@pytest.fixture
def sdk(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings], store_url: str
) -> Iterator[tuple[openai.OpenAI, TestClient]]:
    settings = make_settings(
        state={"url": store_url},
        models={"procedural": {"sizes": ["64x64"], "openai_names": ["gpt-image-1"]}},
    )
    client = make_client(settings)
    with openai.OpenAI(
        api_key=API_KEY, base_url="http://testserver/v1", http_client=client, max_retries=0
    ) as made:
        yield made, client


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (20, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def jobs_listed(client: TestClient) -> list[str]:
    data = client.get("/images/jobs", headers=AUTH).json()["data"]
    return [job["id"] for job in data["jobs"]]


def test_a_keyed_generation_is_replayed_and_runs_once(
    sdk: tuple[openai.OpenAI, TestClient],
) -> None:
    api, client = sdk
    key = {"Idempotency-Key": "gen-7f3a"}
    ask = api.images.with_raw_response.generate
    first = ask(prompt="a kite", size="64x64", extra_headers=key)
    again = ask(prompt="a kite", size="64x64", extra_headers=key)
    assert first.status_code == again.status_code == 200
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["x-imagegate-job-id"] == first.headers["x-imagegate-job-id"]
    assert again.parse().model_dump() == first.parse().model_dump()
    assert jobs_listed(client) == [first.headers["x-imagegate-job-id"]]  # one job, not two
    with pytest.raises(openai.UnprocessableEntityError) as reused:
        api.images.generate(prompt="another kite", size="64x64", extra_headers=key)
    assert reused.value.code == "idempotency_key_reused"
    assert len(jobs_listed(client)) == 1


def test_a_keyed_multipart_edit_is_replayed_whatever_its_boundary(
    sdk: tuple[openai.OpenAI, TestClient],
) -> None:
    api, client = sdk
    key = {"Idempotency-Key": "edit-1"}
    image = ("photo.png", png(), "image/png")
    answers = [
        api.images.with_raw_response.edit(
            image=image, prompt="add a moon", size="64x64", extra_headers=key
        )
        for _ in range(2)
    ]  # the SDK picks a new multipart boundary for each request
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[1].headers["idempotent-replayed"] == "true"
    assert len({a.headers["x-imagegate-job-id"] for a in answers}) == 1
    assert len(jobs_listed(client)) == 1
    with pytest.raises(openai.UnprocessableEntityError):
        api.images.edit(image=image, prompt="add a sun", size="64x64", extra_headers=key)


def test_a_streamed_answer_is_not_replayed(sdk: tuple[openai.OpenAI, TestClient]) -> None:
    api, client = sdk
    key = {"Idempotency-Key": "stream-1"}
    for _ in range(2):
        events = list(
            api.images.generate(
                prompt="a streamed owl", size="64x64", stream=True, extra_headers=key
            )
        )
        assert events[-1].type == "image_generation.completed"
    # Each try ran: the second joined the first's cached result, neither was a replay.
    listed = client.get("/images/jobs", headers=AUTH).json()["data"]["jobs"]
    assert len(listed) == 2 and listed[0]["cached"] is True
