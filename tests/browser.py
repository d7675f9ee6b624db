"""Debian's Chromium driven by Playwright for Python, for the web console's tests.

Playwright's own browser download cannot work here (and is never run): the tests launch
`/usr/bin/chromium`, which `tests/bootstrap.sh` installs, headless with a fresh profile.
Every page records console errors, uncaught exceptions and CSP violations, so a test can
assert that the console ran cleanly under its Content-Security-Policy.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import (
    BrowserContext,
    ConsoleMessage,
    Error,
    Page,
    expect,
    sync_playwright,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 20_000  # generous: the machine is shared; nothing here measures speed
LAPTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@dataclass
class Watched:
    """A page, what went wrong on it (console errors, uncaught exceptions) and what it
    fetched (the console works offline: nothing but the gateway is ever asked)."""

    page: Page
    problems: list[str] = field(default_factory=list)
    requested: list[str] = field(default_factory=list)  # every URL the page asked for

    def _console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            self.problems.append(f"console {message.type}: {message.text}")

    def _exception(self, error: Error) -> None:
        self.problems.append(f"uncaught: {error}")


@contextmanager
def chromium(profile: Path) -> Iterator[BrowserContext]:
    """A headless Chromium with a fresh user-data-dir at `profile`."""
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: run tests/bootstrap.sh, which installs it")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=LAPTOP,
            timeout=120_000,  # starting Chromium on a busy machine can take a while
        )
        context.set_default_timeout(TIMEOUT_MS)
        expect.set_options(timeout=TIMEOUT_MS)
        try:
            yield context
        finally:
            context.close()


def watched_page(context: BrowserContext) -> Watched:
    watched = Watched(context.new_page())
    watched.page.on("console", watched._console)
    watched.page.on("pageerror", watched._exception)
    watched.page.on("request", lambda request: watched.requested.append(request.url))
    return watched
