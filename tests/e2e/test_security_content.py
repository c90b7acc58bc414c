"""User content against the Hub's origin: repo files never run as the Hub (stored XSS), headers never
carry what a URL smuggled in, and card YAML cannot make a listing expensive."""

from __future__ import annotations

import base64
import json
import socket
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from huggingface_hub import HfApi

PAYLOAD = b"<script>document.title='pwned';fetch('http://127.0.0.1:%d/hit')</script><h1>hello</h1>"
ACTIVE = ["index.html", "page.htm", "UPPER.HTML", "vector.svg", "data.xml", "doc.xhtml", "app.js", "worker.mjs",
          "feed.rss", "paper.pdf", "sub/dir/inner.html"]
PASSIVE = {"notes.txt": "text/plain", "config.json": "application/json", "pic.png": "image/png",
           "noext": "application/octet-stream"}


@pytest.fixture(scope="module")
def content(hub, alice):
    api = HfApi(endpoint=hub.url, token=alice)
    repo = f"alice/xss-{uuid.uuid4().hex[:6]}"
    api.create_repo(repo)
    files = {name: PAYLOAD % 1 for name in [*ACTIVE, *PASSIVE]}
    from huggingface_hub import CommitOperationAdd

    api.create_commit(repo, [CommitOperationAdd(path_in_repo=k, path_or_fileobj=v) for k, v in files.items()],
                      commit_message="user content")
    return api, repo


@pytest.mark.parametrize("path", ACTIVE)
def test_active_types_download_instead_of_rendering(hub, content, path):
    _, repo = content
    for method in ("GET", "HEAD"):
        r = httpx.request(method, f"{hub.url}/{repo}/resolve/main/{path}")
        assert r.status_code == 200
        assert r.headers["content-disposition"].startswith("attachment;"), (path, r.headers)
        assert r.headers["x-content-type-options"] == "nosniff"
        csp = r.headers["content-security-policy"]
        assert "sandbox" in csp and "default-src 'none'" in csp


@pytest.mark.parametrize("path", list(PASSIVE))
def test_passive_types_stay_inline_but_sandboxed(hub, content, path):
    _, repo = content
    r = httpx.get(f"{hub.url}/{repo}/resolve/main/{path}")
    assert r.headers["content-type"].split(";")[0] == PASSIVE[path]
    assert r.headers["content-disposition"].startswith("inline;")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in r.headers["content-security-policy"]


def test_every_kind_of_answer_is_sandboxed(hub, content, alice):
    """JSON answers, errors, LFS download URLs and static files get the sandboxing policy too; the
    web UI's own pages get their strict one (no script at all)."""
    _, repo = content
    urls = [f"/api/models/{repo}", "/api/models/alice/no-such-repo", f"/{repo}/resolve/main/nothing-here",
            "/api/openapi.json", "/static/style.css"]
    for url in urls:
        r = httpx.get(hub.url + url)
        assert r.headers["x-content-type-options"] == "nosniff", url
        assert "sandbox" in r.headers["content-security-policy"], url
    page = httpx.get(f"{hub.url}/{repo}")
    csp = page.headers["content-security-policy"]
    assert "script-src 'none'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in csp


def test_opening_a_repos_html_in_a_browser_runs_nothing(hub, content, tmp_path):
    """The review's attack: a signed-in user opens another user's index.html from /resolve/. Its script
    must not run on the Hub's origin (here it would set the title and call a listener)."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM, CHROMIUM_ARGS

    hits = []

    class Listener(BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    listener = ThreadingHTTPServer(("127.0.0.1", 0), Listener)
    threading.Thread(target=listener.serve_forever, daemon=True).start()
    api, repo = content
    port = listener.server_address[1]
    from huggingface_hub import CommitOperationAdd

    api.create_commit(repo, [CommitOperationAdd(path_in_repo=p, path_or_fileobj=PAYLOAD % port)
                             for p in ("index.html", "vector.svg", "noext")], commit_message="armed")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_context(accept_downloads=True).new_page()
            for path in ("index.html", "vector.svg", "noext"):
                try:
                    page.goto(f"{hub.url}/{repo}/resolve/main/{path}", timeout=10000)
                    page.wait_for_timeout(500)
                    assert page.title() != "pwned", path
                except PlaywrightError as e:  # a download instead of a page: nothing rendered at all
                    assert "Download is starting" in str(e), e
            browser.close()
    finally:
        listener.shutdown()
    assert hits == []


# -- headers never carry what a URL smuggled in --------------------------------------------------------


def raw_request(url: str, target: bytes) -> bytes:
    """Send ``GET target`` byte for byte (no client library cleans it) and return the whole answer."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: " + host.encode() + b"\r\nConnection: close\r\n\r\n")
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out


@pytest.mark.parametrize("target", [
    b"/api/models/alice/a%01b",
    b"/api/models/alice/x/tree/main/a%0d%0aSet-Cookie:%20evil=1",
    b"/alice/x/resolve/main/%0aX-Injected:%201",
    b"/api/models/alice/x/revision/%1b%5b31m",
    b"/api/datasets/alice/x/tree/%7f%00/y",
    b"/alice%09x/y/resolve/main/f",
    b"/api/models/alice/x/tree/%ed%a0%80",  # a lone surrogate, percent-encoded
    b"/api/models/alice/x/tree/main/%c3%28",  # invalid UTF-8
])
def test_control_characters_in_urls_never_reach_a_header(hub, target):
    answer = raw_request(hub.url, target)
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert 400 <= status < 500, answer[:300]
    lines = head.split(b"\r\n")[1:]
    assert not any(name.lower().startswith((b"set-cookie", b"x-injected")) for name in lines), head
    for line in lines:
        assert not any(b < 32 and b != 9 for b in line), line
    assert body  # the answer arrived whole; the connection was not dropped


def test_no_tracebacks_from_hostile_urls(hub):
    before = hub.log.read_text()
    for target in (b"/api/models/alice/a%01b", b"/api/models/alice/x/tree/%ed%a0%80"):
        raw_request(hub.url, target)
    assert "Traceback" not in hub.log.read_text()[len(before):]


# -- card YAML ----------------------------------------------------------------------------------------


def alias_bomb(levels: int = 9) -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i, name in enumerate("bcdefghijklm"[: levels - 1]):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{chr(ord('a') + i)}"] * 9) + "]")
    return "---\n" + "\n".join(lines) + "\n---\n# bomb\n"


@pytest.mark.parametrize("card", [
    alias_bomb(9),                                         # the review's 311-byte card: 9^9 values
    alias_bomb(6),                                         # 9^6: half a million values
    "---\na: &a [*a]\n---\n",                              # refers to itself
    "---\nx: " + "[" * 500 + "]" * 500 + "\n---\n",        # deep
    "---\n" + "k: v\n" * 1 + "big: " + "x" * (1024 * 1024 + 10) + "\n---\n",  # over the size cap
])
def test_hostile_card_yaml_is_refused_and_listings_stay_small(hub, alice, card):
    api = HfApi(endpoint=hub.url, token=alice)
    repo = f"alice/bomb-{uuid.uuid4().hex[:6]}"
    api.create_repo(repo)
    with pytest.raises(ValueError, match="Invalid metadata"):  # the stock client asks validate-yaml first
        api.upload_file(path_or_fileobj=card.encode(), path_in_repo="README.md", repo_id=repo)
    r = httpx.post(f"{hub.url}/api/models/{repo}/commit/main", timeout=60,  # a raw commit skips that
                   headers={"authorization": f"Bearer {alice}", "content-type": "application/x-ndjson"},
                   content=b'{"key": "header", "value": {"summary": "card"}}\n' + json.dumps(
                       {"key": "file", "value": {"path": "README.md", "encoding": "base64",
                                                 "content": base64.b64encode(card.encode()).decode()}}).encode())
    assert r.status_code == 200, r.text  # accepted...
    info = httpx.get(f"{hub.url}/api/models/{repo}").json()
    assert "cardData" not in info  # ...but its metadata is ignored
    listing = httpx.get(f"{hub.url}/api/models", params={"author": "alice", "search": repo.split("/")[1]})
    assert listing.status_code == 200 and len(listing.content) < 10_000
    page = httpx.get(f"{hub.url}/{repo}")
    assert page.status_code == 200 and len(page.content) < 2_000_000
    r = httpx.post(f"{hub.url}/api/validate-yaml", json={"content": card, "repoType": "model"})
    assert r.status_code == 400 and r.json()["errors"]


def test_ordinary_anchors_still_work(hub, alice):
    api = HfApi(endpoint=hub.url, token=alice)
    repo = f"alice/anchors-{uuid.uuid4().hex[:6]}"
    api.create_repo(repo)
    card = "---\nlicense: mit\nbase: &base {lr: 0.1, epochs: 3}\nrun: *base\n---\n# ok\n"
    api.upload_file(path_or_fileobj=card.encode(), path_in_repo="README.md", repo_id=repo)
    assert api.model_info(repo).card_data["run"] == {"lr": 0.1, "epochs": 3}
