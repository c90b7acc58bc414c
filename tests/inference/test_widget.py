"""The model page's inference widget: a form posted with the browser's session (and CSRF token) that
shows labels with score bars, or the generated text. Pages with httpx, then headless Chromium."""

from __future__ import annotations

import html
import re
from contextlib import closing

import httpx
import pytest
from huggingface_hub import HfApi

from tests.browser import browser_sign_in, chromium_page, needs_chromium

PASSWORD = "wanda-widget-pass-1"


@pytest.fixture(scope="module")
def wanda(hub, checkpoints) -> str:
    """wanda (who signs in with a password) owns a private classifier."""
    token = hub.user("wanda", password=PASSWORD)
    api = HfApi(endpoint=hub.url, token=token)
    api.create_repo("wanda/secret-classifier", private=True)
    api.upload_folder(folder_path=checkpoints["classifier"], repo_id="wanda/secret-classifier")
    return "wanda/secret-classifier"


def sign_in(hub) -> httpx.Client:
    c = httpx.Client(base_url=hub.url, follow_redirects=False, timeout=120)
    csrf = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
    r = c.post("/login", data={"csrf": csrf, "username": "wanda", "password": PASSWORD, "next": "/"})
    assert r.status_code == 303, r.text
    return c


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def scores_of(page: str) -> list[tuple[str, str]]:
    return re.findall(
        r'<span class="widget-label">([^<]*)</span>.*?<span class="widget-score">([^<]*)</span>', page, re.S
    )


def test_only_pages_of_models_with_a_task_have_the_widget(hub, repos):
    page = httpx.get(f"{hub.url}/{repos.classifier}")
    assert 'aria-label="Inference"' in page.text and "text-classification" in page.text
    assert "script-src 'none'" in page.headers["content-security-policy"]  # a form, no script
    assert 'aria-label="Inference"' not in httpx.get(f"{hub.url}/{repos.untagged}").text


def test_the_widget_shows_labels_and_scores(hub, repos, local):
    r = httpx.post(
        f"{hub.url}/{repos.classifier}/inference", data={"inputs": "the movie was good"}, timeout=120
    )
    assert r.status_code == 200, r.text  # anonymous on a public model: no session, so no CSRF to check
    want = [(x["label"], f"{x['score']:.3f}") for x in local["classifier"]("the movie was good", top_k=None)]
    assert scores_of(r.text) == want
    assert "the movie was good</textarea>" in r.text


def test_the_widget_shows_generated_text(hub, repos, local):
    r = httpx.post(f"{hub.url}/{repos.chat}/inference", data={"inputs": "hello world"}, timeout=120)
    assert r.status_code == 200, r.text
    want = local["chat"]("hello world", max_new_tokens=48, do_sample=False)[0]["generated_text"]
    assert f'<pre class="widget-text">{html.escape(want, quote=True)}</pre>' in r.text


def test_the_widget_follows_access_rules_and_csrf(hub, repos, wanda):
    r = httpx.post(f"{hub.url}/{wanda}/inference", data={"inputs": "good"}, timeout=60)
    assert r.status_code == 404 and "text/html" in r.headers["content-type"]
    with closing(sign_in(hub)) as c:
        assert c.post(f"/{wanda}/inference", data={"inputs": "good"}).status_code == 403  # no CSRF token
        csrf = csrf_of(c.get(f"/{wanda}").text)
        r = c.post(f"/{wanda}/inference", data={"inputs": "good", "csrf": csrf})
        assert r.status_code == 200 and len(scores_of(r.text)) == 2
        r = c.post(f"/{wanda}/inference", data={"inputs": "   ", "csrf": csrf})
        assert r.status_code == 200 and "Type a text first" in r.text


@pytest.mark.browser
@needs_chromium
def test_widget_in_chromium(hub, repos, wanda, local):
    from playwright.sync_api import expect

    want = local["classifier"]("what a great story", top_k=None)
    with chromium_page(timeout_ms=60_000) as page:
        browser_sign_in(page, hub.url, "wanda", PASSWORD)

        # the private classifier: only its signed-in owner sees the page and runs it
        page.goto(f"{hub.url}/{wanda}")
        widget = page.get_by_role("region", name="Inference")
        widget.get_by_label("A text").fill("what a great story")
        widget.get_by_role("button", name="Compute").click()
        rows = widget.locator(".widget-scores li")
        expect(rows).to_have_count(2)
        for i, x in enumerate(want):
            expect(rows.nth(i).locator(".widget-label")).to_have_text(x["label"])
            expect(rows.nth(i).locator(".widget-score")).to_have_text(f"{x['score']:.3f}")
            assert float(rows.nth(i).locator("meter").get_attribute("value")) == pytest.approx(x["score"])
        expect(widget.get_by_label("A text")).to_have_value("what a great story")
        page.screenshot(path="/tmp/cove-inference-scores.png")

        # a text-generation model: the prompt continued
        page.goto(f"{hub.url}/{repos.chat}")
        widget = page.get_by_role("region", name="Inference")
        widget.get_by_label("A prompt to continue").fill("hello world")
        widget.get_by_role("button", name="Compute").click()
        expect(widget.locator(".widget-text")).to_contain_text("hello world")
        page.screenshot(path="/tmp/cove-inference-widget.png", full_page=True)


def test_widget_views_of_every_task():
    from cove.errors import BadRequest
    from cove.server.routes.inference import widget_inputs, widget_view

    pair = widget_inputs("sentence-similarity", "a cat\n\n a dog \nthe sea")
    assert pair == {"source_sentence": "a cat", "sentences": ["a dog", "the sea"]}
    with pytest.raises(BadRequest, match="first line"):
        widget_inputs("sentence-similarity", "only one")
    assert widget_view("sentence-similarity", pair, [0.5, 0.25])["rows"] == [
        ("a dog", 0.5),
        ("the sea", 0.25),
    ]
    masks = [{"score": 0.7, "token": 5, "token_str": "paris", "sequence": "the capital is paris"}]
    assert widget_view("fill-mask", "the capital is [MASK]", masks)["rows"] == [("paris", 0.7)]
    labels = [[{"label": "POSITIVE", "score": 0.9}, {"label": "NEGATIVE", "score": 0.1}]]
    assert widget_view("text-classification", "x", labels)["rows"] == [("POSITIVE", 0.9), ("NEGATIVE", 0.1)]
    entities = [
        {"entity_group": "LOC", "score": 0.8, "word": "paris", "start": 0, "end": 5},
        {"entity": "B-PER", "score": 0.6, "word": "ines", "start": 6, "end": 10},
    ]
    assert widget_view("token-classification", "x", entities)["rows"] == [
        ("paris", "LOC", 0.8),
        ("ines", "B-PER", 0.6),
    ]
    vector = widget_view("feature-extraction", "x", [[[0.5] * 10, [0.25] * 10, [0.0] * 10]])
    assert vector == {"kind": "vector", "shape": "1 × 3 × 10", "head": [0.5] * 8}
    assert widget_view("text-generation", "hi", [{"generated_text": "hi there"}]) == {
        "kind": "text",
        "text": "hi there",
    }
