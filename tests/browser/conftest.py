"""Real-browser fixtures: the portal served by a live WSGI server in a background thread,
with CSRF on and the demo data loaded, driven by headless Chromium through Playwright.

Chromium is never downloaded: the system browser is used (`CHROMIUM_PATH`, default
/usr/bin/chromium). Without it the browser tests are skipped, except in CI where they fail.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from werkzeug.serving import make_server

from config import BASE_DIR, TestingConfig
from portal import create_app
from portal.cli import alembic_config

IN_CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}  # as in tests/conftest.py
CHROMIUM_PATH = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DEFAULT_TIMEOUT_MS = 15_000
ARTIFACTS = BASE_DIR / "test-artifacts" / "browser"


def _missing(message: str):
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _chromium_executable() -> str:
    path = CHROMIUM_PATH
    resolved = path if os.path.isabs(path) else shutil.which(path)
    if not resolved or not os.path.isfile(resolved) or not os.access(resolved, os.X_OK):
        _missing(f"Chromium not found at {path!r} (set CHROMIUM_PATH; e.g. `apt-get install chromium`). "
                 "Browser tests need a system Chromium; Playwright's own download is never used.")
    return resolved


@pytest.fixture(scope="session")
def live_app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{tmp}/browser.db"
    app = create_app(TestingConfig(DATABASE_URL=url, WTF_CSRF_ENABLED=True, UPLOAD_DIR=tmp / "uploads"))
    with app.app_context():
        command.upgrade(alembic_config(url), "head")
        from portal.db import db
        from portal.demo import seed_demo
        from portal.reference.services import load_reference_data

        load_reference_data(db)
        seed_demo(db)
        db.commit()
        db.close()
    yield app
    app.extensions["db_engine"].dispose()


@pytest.fixture(scope="session")
def base_url(live_app) -> Iterator[str]:
    # One access-log line per request (and per static file) would bury any failure's output.
    access_log = logging.getLogger("werkzeug")
    saved_level = access_log.level
    access_log.setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, live_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-portal", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        access_log.setLevel(saved_level)


@pytest.fixture(scope="session")
def browser():
    executable = _chromium_executable()
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - playwright is a dev dependency
        _missing(f"playwright is not installed: {exc}")
    with sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        except PlaywrightError as exc:
            _missing(f"Chromium at {executable} could not be started: {exc}")
        yield browser
        browser.close()


@pytest.fixture
def page(browser, base_url):
    context = browser.new_context(locale="mk-MK", base_url=base_url)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    context.set_default_navigation_timeout(DEFAULT_TIMEOUT_MS)
    pg = context.new_page()
    try:
        yield pg
    finally:
        context.close()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def screenshot(page, artifacts_dir):
    """`screenshot("admin-en")` saves a full-page PNG as evidence (never an assertion)."""

    def _take(name: str) -> Path:
        path = artifacts_dir / (re.sub(r"[^A-Za-z0-9_.-]+", "-", name) + ".png")
        page.screenshot(path=str(path), full_page=True)
        return path

    return _take
