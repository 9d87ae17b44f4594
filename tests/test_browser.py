"""The demo in a real browser: start ``demo.py`` on a free port, drive it in headless Chromium, keep a screenshot.

Needs Debian's ``chromium`` (``apt-get install chromium``) and Playwright's Python client (no browser download:
Playwright drives /usr/bin/chromium). The model cache lives in ``.cache/alex-test`` (or ``ALEX_TEST_CACHE``), so
only the first run trains the classifier. Screenshots and the server log go to ``test-output/browser/``.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
OUTPUT = REPO / "test-output" / "browser"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
LABELS = ("negative", "neutral", "positive")
POST = "I took ibuprofen for my migraine and it did nothing, still in agony after 3 hours"
READY_TIMEOUT_S = 600  # a first run trains the classifier (a minute on an idle 2-core machine)
ANSWER_TIMEOUT_S = 240

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium not installed at /usr/bin/chromium "
                                 "(apt-get install chromium)")]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"demo.py exited with code {process.returncode}; see {OUTPUT / 'demo.log'}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"demo.py did not open port {port} within {timeout:.0f} s")


@pytest.fixture(scope="module")
def demo_url():
    OUTPUT.mkdir(parents=True, exist_ok=True)
    port = free_port()
    cache = Path(os.environ.get("ALEX_TEST_CACHE", REPO / ".cache" / "alex-test"))
    env = {**os.environ, "ALEX_CACHE_DIR": str(cache), "ALEX_N_THREADS": os.environ.get("ALEX_N_THREADS", "1"),
           "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    with (OUTPUT / "demo.log").open("w") as log:
        process = subprocess.Popen([sys.executable, "demo.py", "--port", str(port), "--host", "127.0.0.1", "-v"],
                                   cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_port(port, process, 180)
            yield f"http://127.0.0.1:{port}/"
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture(scope="module")
def page(demo_url):
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1500})
        page.goto(demo_url, timeout=120_000)
        yield page
        browser.close()


def test_chat_answers_a_post_with_label_explanation_and_chart(page):
    page.wait_for_selector("#status:has-text('Ready')", timeout=READY_TIMEOUT_S * 1000)
    box = page.locator("#chat-input textarea")
    box.fill(POST)
    box.press("Enter")
    page.wait_for_selector("#chatbot :text('Final label:')", timeout=ANSWER_TIMEOUT_S * 1000)
    page.wait_for_selector("#explanation :text('Final label:')", timeout=30_000)
    chat = page.inner_text("#chatbot")
    label = re.search(r"Final label: (\w+)", chat)
    assert label and label.group(1) in LABELS, chat[-500:]
    assert "LLM" in chat and "BERT" in chat  # says whether the LLM changed BERT's label
    assert "Route: explain_post" in chat  # the tool step is shown as a collapsible message
    explanation = page.inner_text("#explanation")
    assert "BERT predicted" in explanation and label.group(1) in explanation
    page.wait_for_selector("#prob-plot svg .mark-rect path, #prob-plot canvas", timeout=30_000)
    bars = page.locator("#prob-plot svg .mark-rect path").count()
    assert bars == len(LABELS) or page.locator("#prob-plot canvas").count() > 0
    assert re.search(r"(Flagged for review|No review needed)", page.inner_text("#review-flag"))
    scroll_chat_to_top(page)
    page.screenshot(path=str(OUTPUT / "chat.png"), full_page=True)


def scroll_chat_to_top(page) -> None:
    """Show the tool steps (collapsible messages) at the top of the chat in the screenshot."""
    page.evaluate("""() => { for (const el of document.querySelectorAll('#chatbot *')) {
        if (el.scrollHeight > el.clientHeight + 10 && getComputedStyle(el).overflowY !== 'visible') {
            el.scrollTop = 0; } } }""")
    time.sleep(0.5)


def test_follow_up_uses_the_conversation(page):
    box = page.locator("#chat-input textarea")
    box.fill("which similar posts?")
    box.press("Enter")
    page.wait_for_selector("#chatbot :text('Route: find_similar_posts')", timeout=ANSWER_TIMEOUT_S * 1000)
    answer = page.wait_for_selector("#chatbot :text('most similar labelled posts to')",
                                    timeout=ANSWER_TIMEOUT_S * 1000)
    assert "I took ibuprofen for my migraine" in answer.inner_text()  # the earlier post, from memory
    page.screenshot(path=str(OUTPUT / "follow-up.png"), full_page=True)
