"""Headless Chromium for the web UI's browser tests: Debian's ``chromium`` driven by Playwright, one page
in a fresh context, and signing in through the login form. Tests that use it carry
``@pytest.mark.browser`` and :data:`needs_chromium`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
needs_chromium = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed at "
                                    "/usr/bin/chromium (scripts/test-setup.sh installs it)")


@contextmanager
def chromium_page(*, width: int = 1280, height: int = 860, timeout_ms: int = 15_000,
                  dialogs: list[str] | None = None, accept_downloads: bool = False) -> Iterator:
    """A Playwright page in headless Chromium, closed on the way out. ``dialogs``: a list that collects
    (and dismisses) every alert, confirm or prompt, so a test can assert no script ever ran one."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": width, "height": height},
                                          accept_downloads=accept_downloads)
            page = context.new_page()
            if dialogs is not None:
                page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.set_default_timeout(timeout_ms)
            yield page
        finally:
            browser.close()


def browser_sign_in(page, url: str, name: str, password: str) -> None:
    """Sign ``name`` in through the login form; returns on the home page."""
    page.goto(f"{url}/login")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{url}/")
