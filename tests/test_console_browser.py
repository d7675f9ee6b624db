"""The web console in a real browser (Debian's Chromium through Playwright) against a real
`imagegate serve` process: the playground makes an image and shows its cost, the ops view
shows a tenant's spend change after a job, and refuses a tenant key. Each test leaves a
screenshot in its tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from gateway.auth import key_hash
from tests.browser import PHONE, Watched, chromium, watched_page
from tests.conftest import API_KEY, AUTH, config_dict
from tests.processes import serve, worker, write_config
from tests.test_admin import ADMIN_KEY

PNG = b"\x89PNG\r\n\x1a\n"


def console_config(tmp_path: Path, **overrides: object) -> dict:
    return config_dict(
        tmp_path,
        server={"public_url": None},  # image URLs point at the process the browser talks to
        admin={"keys": [key_hash(ADMIN_KEY)]},
        backends={
            "procedural": {"type": "procedural", "prices": {"default": "0.02"}},
            "slow": {"type": "procedural", "latency": "60s", "prices": {"default": "0.02"}},
            "broken": {"type": "procedural", "fail_rate": 1.0, "prices": {"default": "0.02"}},
        },
        models={
            "slow": {
                "targets": [{"backend": "slow", "model": "procedural-v1"}],
                "sizes": ["256x256"],
            },
            "broken": {
                "targets": [{"backend": "broken", "model": "procedural-v1"}],
                "sizes": ["256x256"],
            },
        },
        **overrides,
    )


@pytest.fixture
def gateway_url(tmp_path: Path) -> Iterator[str]:
    config = console_config(tmp_path)
    process, url = serve(write_config(tmp_path / "gateway.toml", config), tmp_path)
    try:
        yield url
    finally:
        process.stop()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[BrowserContext]:
    with chromium(tmp_path / "chromium-profile") as context:
        yield context


def use_key(page: Page, label: str, key: str) -> None:
    page.get_by_label(label, exact=True).fill(key)
    page.get_by_role("button", name="Use key").click()


def assert_clean(watched: Watched, *expected_statuses: int) -> None:
    """No console error, no uncaught exception, no CSP violation on the page (the browser
    logs each HTTP error answer to a fetch; `expected_statuses` are the ones meant), and
    no request to anywhere but the gateway that served the page."""
    expected = {f"status of {status} " for status in expected_statuses}
    assert [p for p in watched.problems if not any(e in p for e in expected)] == []
    origin = "/".join(watched.page.url.split("/", 3)[:3]) + "/"
    assert watched.requested and all(url.startswith(origin) for url in watched.requested)


def test_playground_makes_an_image_and_shows_its_cost(
    tmp_path: Path, gateway_url: str, browser: BrowserContext
) -> None:
    watched = watched_page(browser)
    page = watched.page
    page.goto(f"{gateway_url}/console")
    use_key(page, "API key", API_KEY)
    expect(page.get_by_label("Model")).to_have_value("procedural")
    page.get_by_label("Size").select_option("256x256")
    page.get_by_label("Images (n)").fill("2")
    page.get_by_label("Prompt").fill("a lighthouse at dusk, oil painting")
    page.get_by_role("button", name="Generate").click()

    expect(page.get_by_test_id("job-status")).to_have_text("SUCCEEDED")
    expect(page.get_by_test_id("job-cost")).to_have_text("$0.04")  # 2 images at 0.02
    expect(page.get_by_test_id("job-attempts")).to_have_text("1")
    expect(page.get_by_test_id("job-cached")).to_have_text("no")
    images = page.locator(".images img")
    expect(images).to_have_count(2)
    for index in range(2):
        expect(images.nth(index)).to_be_visible()
        # The browser really decoded the gateway's PNG (a broken image has no natural size).
        assert images.nth(index).evaluate("img => img.complete && img.naturalWidth") == 256
    job_id = page.locator("#job-title code").inner_text()
    job = httpx.get(f"{gateway_url}/images/jobs/{job_id}", headers=AUTH).json()["data"]
    assert job["status"] == "SUCCEEDED" and job["cost"] == "0.04" and job["size"] == "256x256"
    src = images.first.get_attribute("src")
    assert src is not None and httpx.get(src).content.startswith(PNG)
    expect(page.get_by_role("table", name="Your recent jobs")).to_contain_text("a lighthouse")
    page.screenshot(path=tmp_path / "playground.png", full_page=True)

    # The same prompt again is answered by the cache: free, no attempt.
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#job-title code")).not_to_have_text(job_id)
    expect(page.get_by_test_id("job-cached")).to_have_text("yes")
    expect(page.get_by_test_id("job-cost")).to_have_text("$0.00")

    # The key stays in this tab's session storage only: no cookie, no local storage.
    stored = page.evaluate(
        "() => [sessionStorage.getItem('imagegate.console.key.tenant'), "
        "localStorage.length, document.cookie]"
    )
    assert stored == [API_KEY, 0, ""]
    assert_clean(watched)


def test_ops_view_shows_a_tenants_spend_change_after_a_job(
    tmp_path: Path, gateway_url: str, browser: BrowserContext
) -> None:
    watched = watched_page(browser)
    page = watched.page
    page.goto(f"{gateway_url}/console#ops")
    use_key(page, "Admin key", ADMIN_KEY)
    spend = page.get_by_test_id("spend-demo")
    expect(spend).to_have_text("$0.00 of $5.00")
    expect(page.get_by_test_id("charged-usd")).to_have_text("$0.00")

    submitted = httpx.post(
        f"{gateway_url}/images/jobs",
        json={"prompt": "a harbour at noon", "size": "256x256"},
        headers={**AUTH, "Prefer": "wait=20"},
    )
    assert submitted.status_code == 200 and submitted.json()["data"]["cost"] == "0.02"
    failed = httpx.post(
        f"{gateway_url}/images/jobs",
        json={"prompt": "a storm", "model": "broken"},
        headers={**AUTH, "Prefer": "wait=20"},
    ).json()["data"]
    assert failed["status"] == "FAILED"
    page.get_by_role("button", name="Refresh", exact=True).click()
    recent_failures = page.get_by_role("table", name="Recent failed jobs")
    expect(recent_failures).to_contain_text(failed["error"]["code"])
    expect(page.get_by_role("table", name="Failed jobs by code")).to_contain_text(
        failed["error"]["code"]
    )
    expect(spend).to_have_text("$0.02 of $5.00")
    expect(page.get_by_test_id("charged-usd")).to_have_text("$0.02")
    # Usage records (written by whichever process ended the job) show the same charge.
    expect(page.get_by_test_id("usage-totals")).to_contain_text("2 jobs, 1 image, $0.02 charged")
    expect(page.get_by_role("table", name="Vendor health")).to_contain_text("procedural")
    assert page.get_by_role("img", name="Budget spent per tenant").count() == 1
    page.screenshot(path=tmp_path / "ops.png", full_page=True)

    page.set_viewport_size(PHONE)  # readable on a phone: nothing wider than the screen
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=tmp_path / "ops-phone.png", full_page=True)
    assert_clean(watched)


def test_ops_view_refuses_a_tenant_key(
    tmp_path: Path, gateway_url: str, browser: BrowserContext
) -> None:
    watched = watched_page(browser)
    page = watched.page
    page.goto(f"{gateway_url}/console#ops")
    with page.expect_response(lambda r: r.url.endswith("/admin/overview")) as answered:
        use_key(page, "Admin key", API_KEY)
    assert answered.value.status == 403
    expect(page.get_by_role("alert")).to_contain_text("tenant key")
    expect(page.get_by_role("table", name="Tenants")).to_have_count(0)
    expect(page.get_by_test_id("spend-demo")).to_have_count(0)
    page.screenshot(path=tmp_path / "ops-refused.png", full_page=True)
    assert_clean(watched, 403)


def test_the_playground_works_from_the_keyboard(
    tmp_path: Path, gateway_url: str, browser: BrowserContext
) -> None:
    watched = watched_page(browser)
    page = watched.page
    page.goto(f"{gateway_url}/console")
    unlabelled = page.evaluate(
        "() => [...document.querySelectorAll('input, select, textarea')]"
        ".filter(el => !el.labels.length).map(el => el.id || el.name)"
    )
    assert unlabelled == []
    page.keyboard.press("Tab")  # the skip link
    page.keyboard.press("Tab")  # Playground
    page.keyboard.press("Tab")  # Operations
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.id") == "tenant-key"
    page.keyboard.type(API_KEY)
    page.keyboard.press("Enter")
    expect(page.get_by_label("Model")).to_have_value("procedural")
    page.get_by_label("Prompt").focus()
    # Markup in a prompt is shown as text, never run (and the CSP would refuse it anyway).
    prompt = 'a dune <img src=x onerror="document.title=1"> at dawn'
    page.keyboard.type(prompt)
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.textContent") == "Generate"
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("job-status")).to_have_text("SUCCEEDED")
    expect(page.get_by_role("table", name="Your recent jobs")).to_contain_text(prompt)
    assert page.title() == "Imagegate · Playground"
    assert page.locator("img[src='x']").count() == 0
    page.screenshot(path=tmp_path / "keyboard.png", full_page=True)
    assert_clean(watched)


def test_a_running_job_is_canceled_from_the_playground(
    tmp_path: Path, gateway_url: str, browser: BrowserContext
) -> None:
    watched = watched_page(browser)
    page = watched.page
    page.goto(f"{gateway_url}/console")
    use_key(page, "API key", API_KEY)
    page.get_by_label("Model").select_option("slow")  # a generator that takes a minute
    page.get_by_label("Prompt").fill("a glacier, very slowly")
    page.get_by_role("button", name="Generate").click()
    expect(page.get_by_test_id("job-status")).to_have_text("RUNNING")  # live, from the stream
    page.get_by_role("button", name="Cancel job").click()
    expect(page.get_by_test_id("job-status")).to_have_text("CANCELED")
    expect(page.get_by_role("button", name="Cancel job")).to_have_count(0)
    expect(page.locator(".images img")).to_have_count(0)
    job_id = page.locator("#job-title code").inner_text()
    job = httpx.get(f"{gateway_url}/images/jobs/{job_id}", headers=AUTH).json()["data"]
    assert job["status"] == "CANCELED"
    page.screenshot(path=tmp_path / "canceled.png", full_page=True)
    assert_clean(watched)


def test_both_views_work_when_a_worker_process_runs_the_jobs(
    tmp_path: Path, redis_url: str, browser: BrowserContext
) -> None:
    """An API-only `serve` and an `imagegate worker` on one Redis: the playground's live
    status comes from the other process, and the ops view reads spend and usage from the
    shared state (this process's own counters stay at zero)."""
    shared = {"state": {"url": redis_url}, "storage": {"url": f"file://{tmp_path / 'images'}"}}
    config = console_config(tmp_path, **shared)
    api_only = write_config(tmp_path / "api.toml", {**config, "workers": {"concurrency": 0}})
    worker_process = worker(write_config(tmp_path / "worker.toml", config), tmp_path)
    api, url = serve(api_only, tmp_path, name="api")
    try:
        watched = watched_page(browser)
        page = watched.page
        page.goto(f"{url}/console")
        use_key(page, "API key", API_KEY)
        page.get_by_label("Size").select_option("256x256")
        page.get_by_label("Prompt").fill("a buoy in fog")
        page.get_by_role("button", name="Generate").click()
        expect(page.get_by_test_id("job-status")).to_have_text("SUCCEEDED")
        expect(page.get_by_test_id("job-cost")).to_have_text("$0.02")
        expect(page.locator(".images img")).to_have_count(1)

        page.goto(f"{url}/console#ops")
        use_key(page, "Admin key", ADMIN_KEY)
        expect(page.get_by_test_id("spend-demo")).to_have_text("$0.02 of $5.00")
        expect(page.get_by_test_id("usage-totals")).to_contain_text("$0.02 charged")
        expect(page.get_by_test_id("charged-usd")).to_have_text("$0.00")  # charged elsewhere
        expect(page.get_by_test_id("workers")).to_have_text("0 of 0")
        page.screenshot(path=tmp_path / "ops-redis.png", full_page=True)
        assert_clean(watched)
    finally:
        api.stop()
        worker_process.stop()
