"""Headless Chromium from Debian's packages, driven by Playwright (no browser is ever downloaded)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTEFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium (`scripts/setup.sh` installs it); closed at the end."""
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: run scripts/setup.sh (apt-get install chromium)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page: Page, test_name: str, step: str) -> Path:
    """Save a full-page screenshot as a test artefact (test-artifacts/console/, git-ignored)."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTEFACTS / f"{test_name}-{step}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def figures(page: Page, scope: str = "[data-live-src]") -> dict[str, int]:
    """The numbers a page shows, by the report field each names (data-figure)."""
    shown: dict[str, int] = {}
    for element in page.locator(f"{scope} [data-figure]").all():
        name = element.get_attribute("data-figure") or ""
        # "1 234" (thin-space groups), or "12 in 3 calls": the first number; "-" shows none.
        digits = re.sub(r"\D", "", element.inner_text().split(" in ")[0])
        if digits:
            shown[name] = int(digits)
    return shown
