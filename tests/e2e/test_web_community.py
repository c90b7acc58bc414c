"""The Community tab against a real ``cove serve``: the list and discussion pages with httpx (forms with
their CSRF token, hostile comments shown inert, private repos missing), then a walk in headless Chromium
that opens a pull request from the tab, comments, publishes and merges it."""

from __future__ import annotations

import re
import uuid
from contextlib import closing

import httpx
import pytest
from huggingface_hub import CommitOperationAdd, HfApi

from tests.browser import browser_sign_in, chromium_page, needs_chromium

ERIN_PW = "wren-web-pass-1"


def uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def erin(hub) -> HfApi:
    return HfApi(endpoint=hub.url, token=hub.user("wren", password=ERIN_PW))


def signed_in(hub, name: str, password: str) -> httpx.Client:
    c = httpx.Client(base_url=hub.url, follow_redirects=False, timeout=30)
    csrf = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
    r = c.post("/login", data={"csrf": csrf, "username": name, "password": password, "next": "/"})
    assert r.status_code == 303, r.text
    return c


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def test_pages_and_forms(hub, erin):
    repo_id = erin.create_repo(uniq("wren/web")).repo_id
    with closing(signed_in(hub, "wren", ERIN_PW)) as c:
        page = c.get(f"/{repo_id}/discussions")
        assert page.status_code == 200 and "No open discussions" in page.text
        assert f'href="/{repo_id}/discussions"' in page.text  # the tab
        evil = '<script>alert(1)</script> [x](javascript:alert(2)) <img src=x onerror=alert(3)> **bold**'
        r = c.post(f"/{repo_id}/discussions", data={"csrf": csrf_of(page.text), "title": "<i>Hi</i>",
                                                     "description": evil})
        assert r.status_code == 303 and r.headers["location"] == f"/{repo_id}/discussions/1"
        # a form without the session's token is refused and changes nothing
        assert c.post(f"/{repo_id}/discussions", data={"csrf": "forged", "title": "x"}).status_code == 403
        assert c.post(f"/{repo_id}/discussions/1", data={"action": "comment", "comment": "x"}).status_code == 403
        shown = c.get(f"/{repo_id}/discussions/1")
        assert shown.status_code == 200
        assert "<script>alert(1)" not in shown.text and "&lt;script&gt;alert(1)" in shown.text
        comment = shown.text[shown.text.index('<div class="comment">'):]
        comment = comment[:comment.index("</div>")]
        assert 'href="javascript' not in comment and "<img" not in comment and "&lt;img" in comment
        assert "<strong>bold</strong>" in shown.text and "&lt;i&gt;Hi&lt;/i&gt;" in shown.text
        r = c.post(f"/{repo_id}/discussions/1", data={"csrf": csrf_of(shown.text), "action": "comment",
                                                       "comment": "Second *comment*"})
        assert r.status_code == 303
        r = c.post(f"/{repo_id}/discussions/1", data={"csrf": csrf_of(shown.text), "action": "close"})
        assert r.status_code == 303
        assert "<em>comment</em>" in c.get(f"/{repo_id}/discussions/1").text
        assert "#1" in c.get(f"/{repo_id}/discussions?status=closed").text
        assert c.get(f"/{repo_id}/discussions?status=bogus").status_code == 400
    d = erin.get_discussion_details(repo_id, 1)
    assert d.status == "closed" and [e.type for e in d.events] == ["comment", "comment", "status-change"]
    assert len(list(erin.get_repo_discussions(repo_id))) == 1


def test_rename_and_hide_buttons(hub, erin):
    """The discussion's author or a writer renames it; only writers hide a comment (the buttons show for
    those the API allows, and the forms are refused to the others)."""
    repo_id = erin.create_repo(uniq("wren/tidy")).repo_id
    hub.user("wrenfriend", password="wrenfriend-pass-1")
    with closing(signed_in(hub, "wrenfriend", "wrenfriend-pass-1")) as friend:
        page = friend.get(f"/{repo_id}/discussions")
        r = friend.post(f"/{repo_id}/discussions", data={"csrf": csrf_of(page.text), "title": "Typo in titel",
                                                          "description": "spam spam"})
        num = int(r.headers["location"].rsplit("/", 1)[1])
        shown = friend.get(f"/{repo_id}/discussions/{num}").text
        assert 'value="rename"' in shown and 'value="hide"' not in shown  # the author renames, not a writer
        csrf = csrf_of(shown)
        assert friend.post(f"/{repo_id}/discussions/{num}", data={"csrf": csrf, "action": "rename",
                                                                   "title": "Typo in title"}).status_code == 303
        oid = erin.get_discussion_details(repo_id, num).events[0].id
        assert friend.post(f"/{repo_id}/discussions/{num}", data={"csrf": csrf, "action": "hide",
                                                                   "event": oid}).status_code == 403
        assert friend.post(f"/{repo_id}/discussions/{num}", data={"action": "rename", "title": "x"}).status_code == 403
    with closing(signed_in(hub, "wren", ERIN_PW)) as owner:
        shown = owner.get(f"/{repo_id}/discussions/{num}").text
        assert 'value="hide"' in shown and "Typo in title" in shown
        assert owner.post(f"/{repo_id}/discussions/{num}", data={"csrf": csrf_of(shown), "action": "hide",
                                                                  "event": oid}).status_code == 303
        shown = owner.get(f"/{repo_id}/discussions/{num}").text
        assert "This comment was hidden." in shown and "spam spam" not in shown
    details = erin.get_discussion_details(repo_id, num)
    assert details.title == "Typo in title" and details.events[0].hidden


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16 + b"<html><script>alert(1)</script></html>"


def test_comment_with_an_image(hub, erin):
    """An image attached to a comment is kept and shown, served with its own type (never as a page), only
    to the repo's readers; what is not an image is refused."""
    import hashlib

    repo_id = erin.create_repo(uniq("wren/pics"), private=True).repo_id
    erin.create_discussion(repo_id, title="Look")
    with closing(signed_in(hub, "wren", ERIN_PW)) as c:
        csrf = csrf_of(c.get(f"/{repo_id}/discussions/1").text)
        post = lambda name, data, **more: c.post(f"/{repo_id}/discussions/1", data={  # noqa: E731
            "csrf": csrf, "action": "comment", **more}, files={"image": (name, data, "image/png")})
        assert post("x.png", b"<html><script>alert(1)</script>").status_code == 400  # the bytes decide
        big = post("big.png", PNG + b"\x00" * (5 * 1024 * 1024))
        assert big.status_code == 413, big.text
        assert post("pic.png", PNG, comment="See *this*").status_code == 303
        oid = hashlib.sha256(PNG).hexdigest()
        src = f"/{repo_id}/discussions/attachments/{oid}"
        page = c.get(f"/{repo_id}/discussions/1").text
        assert f'<img src="{src}" alt="image"' in page and "<em>this</em>" in page
        r = c.get(src)
        assert r.status_code == 200 and r.content == PNG and r.headers["content-type"] == "image/png"
        assert r.headers["x-content-type-options"] == "nosniff" and "sandbox" in r.headers["content-security-policy"]
        assert c.get(f"/{repo_id}/discussions/attachments/{'0' * 64}").status_code == 404
    assert httpx.get(hub.url + src).status_code == 404  # a private repo's images are missing to others
    assert [e.type for e in erin.get_discussion_details(repo_id, 1).events] == ["comment", "comment"]


def test_private_community_is_missing(hub, erin):
    repo_id = erin.create_repo(uniq("wren/hidden"), private=True).repo_id
    erin.create_discussion(repo_id, title="Secret talk")
    for path in ("/discussions", "/discussions/1"):
        r = httpx.get(f"{hub.url}/{repo_id}{path}")
        assert r.status_code == 404 and "Secret talk" not in r.text
    with closing(signed_in(hub, "wren", ERIN_PW)) as c:
        assert "Secret talk" in c.get(f"/{repo_id}/discussions").text


def test_pr_diff_page_is_escaped(hub, erin):
    repo_id = erin.create_repo(uniq("wren/diff"), repo_type="dataset").repo_id
    erin.create_commit(repo_id, [CommitOperationAdd("x.html", b"<script>alert(1)</script>\n")],
                       commit_message="<b>html</b>", create_pr=True, repo_type="dataset")
    page = httpx.get(f"{hub.url}/datasets/{repo_id}/discussions/1").text
    assert '<pre class="diff">' in page and "+&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>" not in page and "&lt;b&gt;html&lt;/b&gt;" in page


@pytest.mark.browser
@needs_chromium
def test_browser_opens_comments_and_merges_a_pr(hub, erin):
    from playwright.sync_api import expect

    repo_id = erin.create_repo(uniq("wren/ui")).repo_id
    dialogs: list[str] = []
    with chromium_page(dialogs=dialogs) as page:
        browser_sign_in(page, hub.url, "wren", ERIN_PW)

        page.goto(f"{hub.url}/{repo_id}")
        page.get_by_role("link", name="Community").click()
        page.get_by_label("Title").fill("Add a readme")
        page.get_by_label("Description").fill("Adds <script>alert('x')</script> a **README**")
        page.get_by_label("Open a pull request").check()
        page.get_by_role("button", name="Create").click()
        page.wait_for_url(f"{hub.url}/{repo_id}/discussions/1")
        expect(page.locator(".badge.status")).to_have_text("draft")
        expect(page.locator(".comment strong")).to_have_text("README")

        # a commit to the PR's ref, as a client would push it
        erin.create_commit(repo_id, [CommitOperationAdd("README.md", b"# Hello\n")], commit_message="Readme",
                           revision="refs/pr/1")
        page.reload()
        expect(page.locator(".event-commit")).to_contain_text("Readme")
        expect(page.locator("pre.diff")).to_contain_text("+# Hello")

        page.get_by_label("Comment").fill("Looks *good*")
        page.get_by_role("button", name="Comment").click()
        expect(page.locator(".comment em")).to_have_text("good")
        page.get_by_role("button", name="Publish").click()
        expect(page.locator(".badge.status")).to_have_text("open")
        page.get_by_role("button", name="Merge").click()
        expect(page.locator(".badge.status")).to_have_text("merged")
        page.screenshot(path="/tmp/cove-community.png", full_page=True)
    assert dialogs == []
    assert erin.file_exists(repo_id, "README.md")
    assert erin.get_discussion_details(repo_id, 1).status == "merged"


def test_repos_named_discussions_keep_their_pages(hub, erin):
    for repo_type, prefix in (("dataset", "/datasets"), ("space", "/spaces")):
        repo_id = erin.create_repo("wren/discussions", repo_type=repo_type, exist_ok=True,
                                   space_sdk="static" if repo_type == "space" else None).repo_id
        r = httpx.get(f"{hub.url}{prefix}/{repo_id}", headers={"authorization": f"Bearer {erin.token}"})
        assert r.status_code == 200 and "wren" in r.text and "Community" in r.text, (repo_type, r.status_code)

