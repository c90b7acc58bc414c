"""The web UI against a real ``cove serve``: pages with httpx, then one walk through it in headless Chromium.

Repos are made with the stock ``huggingface_hub`` client; the accounts (carol with a password, dave,
the carol-lab org) are used by no other test module.
"""

from __future__ import annotations

import hashlib
import re
from contextlib import closing
from dataclasses import dataclass

import httpx
import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError

from tests.browser import browser_sign_in, chromium_page, needs_chromium

CAROL_PW = "carol-web-pass-1"
DAVE_PW = "dave-web-pass-1"
README = """---
license: mit
tags:
- text-generation
- tiny
pipeline_tag: text-generation
---
# Tiny model

A **small** model for the web tests. <script>alert("xss")</script> <img src=x onerror="alert(1)">

| layers | hidden |
|--------|--------|
| 2      | 32     |

[the notes](sub/notes.txt) and [a bad link](javascript:alert(1)).
"""
WEIGHTS = bytes(range(256)) * 8  # 2048 bytes; *.safetensors is LFS by the default .gitattributes
NOTES = b"<b>not bold</b>\nsecond line\n"


@dataclass
class Site:
    url: str
    carol: str  # carol's write token
    dave: str


@pytest.fixture(scope="module")
def site(hub) -> Site:
    carol = hub.user("carol", password=CAROL_PW)
    dave = hub.user("dave", password=DAVE_PW)
    api = HfApi(endpoint=hub.url, token=carol)
    api.create_repo("carol/web-model")
    api.upload_file(path_or_fileobj=README.encode(), path_in_repo="README.md", repo_id="carol/web-model",
                    commit_message="Add the model card")
    api.upload_file(path_or_fileobj=WEIGHTS, path_in_repo="model.safetensors", repo_id="carol/web-model",
                    commit_message="Add weights")
    api.create_tag("carol/web-model", tag="v1.0")
    api.upload_file(path_or_fileobj=NOTES, path_in_repo="sub/notes.txt", repo_id="carol/web-model",
                    commit_message="Add notes")
    api.create_branch("carol/web-model", branch="dev")
    api.create_repo("carol/secret-model", private=True)
    api.upload_file(path_or_fileobj=b"# Secret\n", path_in_repo="README.md", repo_id="carol/secret-model")
    api.create_repo("carol/web-data", repo_type="dataset")
    api.upload_file(path_or_fileobj=b"---\nlicense: cc0-1.0\n---\n# Some data\n", path_in_repo="README.md",
                    repo_id="carol/web-data", repo_type="dataset")
    api.create_repo("carol/web-space", repo_type="space", space_sdk="static")
    hub.cli("orgs", "add", "carol-lab", "--owner", "carol")
    hub.cli("orgs", "add-member", "carol-lab", "dave", "--role", "read")
    api.create_repo("carol-lab/lab-model")
    return Site(hub.url, carol, dave)


def client(site: Site) -> httpx.Client:
    return httpx.Client(base_url=site.url, follow_redirects=False, timeout=30)


def sign_in(site: Site, name: str, password: str) -> httpx.Client:
    c = client(site)
    form = c.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    r = c.post("/login", data={"csrf": csrf, "username": name, "password": password, "next": "/"})
    assert r.status_code == 303, r.text
    return c


def page_csrf(c: httpx.Client, path: str = "/settings/tokens") -> str:
    return re.search(r'name="csrf" value="([^"]+)"', c.get(path).text).group(1)


# -- pages ----------------------------------------------------------------------------------------


def test_home_lists_and_searches_public_repos(site):
    with client(site) as c:
        home = c.get("/")
        assert home.status_code == 200 and "text/html" in home.headers["content-type"]
        assert "carol/web-model" in home.text and "carol/web-data" in home.text and "carol/web-space" in home.text
        assert "carol/secret-model" not in home.text
        found = c.get("/", params={"q": "web-mod"}).text
        assert "carol/web-model" in found and "carol/web-data" not in found
        assert "carol/web-data" in c.get("/datasets").text
        assert "carol/web-space" in c.get("/spaces", params={"q": "web"}).text
        assert "carol/web-model" not in c.get("/models", params={"q": "no-such-thing"}).text
        assert c.get("/search", params={"q": "web model"}).headers["location"] == "/?q=web+model"


def test_repo_page_renders_the_card_without_repo_html(site):
    with client(site) as c:
        r = c.get("/carol/web-model")
        assert r.status_code == 200
        html = r.text
        assert "<h1>Tiny model</h1>" in html and "<strong>small</strong>" in html
        assert "<th>layers</th>" in html
        # raw HTML from the README is text, never markup
        assert "<script>alert" not in html and "&lt;script&gt;alert" in html
        assert "<img src=x" not in html and 'onerror="alert' not in html
        assert 'href="javascript:' not in html
        assert 'href="/carol/web-model/blob/main/sub/notes.txt"' in html
        # the front matter is a metadata box, not text in the body
        box = re.search(r'<section class="meta-box".*?</section>', html, re.S).group(0)
        assert '<dt title="license">License</dt><dd>mit</dd>' in box and "text-generation, tiny" in box
        assert "license: mit" not in html and "pipeline_tag:" not in html
        assert "script-src 'none'" in r.headers["content-security-policy"]


def test_file_list_folders_and_revisions(site):
    with client(site) as c:
        html = c.get("/carol/web-model/tree/main").text
        row = re.search(r"<tr class=\"file\">(?:(?!</tr>).)*model\.safetensors.*?</tr>", html, re.S).group(0)
        assert "LFS" in row and "2.0 kB" in row
        readme_row = re.search(r"<tr class=\"file\">(?:(?!</tr>).)*README\.md.*?</tr>", html, re.S).group(0)
        assert "LFS" not in readme_row
        assert 'href="/carol/web-model/tree/main/sub"' in html
        sub = c.get("/carol/web-model/tree/main/sub").text
        assert "notes.txt" in sub and "README.md" not in sub
        assert "sub/" not in c.get("/carol/web-model/tree/v1.0").text  # the tag is older than the notes
        assert "notes.txt" in c.get("/carol/web-model/tree/dev/sub").text
        r = c.get("/carol/web-model/tree/main/sub/notes.txt")
        assert r.status_code == 303 and r.headers["location"] == "/carol/web-model/blob/main/sub/notes.txt"
        assert c.get("/carol/web-model/tree/main/nope").status_code == 404
        assert c.get("/carol/web-model/tree/no-such-branch").status_code == 404
        assert c.get("/carol/web-model/tree/main/../x").status_code in (400, 404)


def test_file_view_escapes_text_and_links_raw_downloads(site):
    with client(site) as c:
        html = c.get("/carol/web-model/blob/main/sub/notes.txt").text
        assert "&lt;b&gt;not bold&lt;/b&gt;" in html and "<b>not bold</b>" not in html
        raw = re.search(r'href="(/carol/web-model/resolve/main/sub/notes.txt)"', html).group(1)
        assert c.get(raw).content == NOTES
        lfs = c.get("/carol/web-model/blob/main/model.safetensors").text
        assert "Git LFS" in lfs and "2.0 kB" in lfs
        assert hashlib.sha256(WEIGHTS).hexdigest() in lfs
        raw = re.search(r'href="(/carol/web-model/resolve/main/model.safetensors)"', lfs).group(1)
        assert c.get(raw).content == WEIGHTS
        assert c.get("/carol/web-model/blob/main/missing.txt").status_code == 404


def test_commits_branches_and_tags(site):
    with client(site) as c:
        log = c.get("/carol/web-model/commits/main").text
        titles = re.findall(r'<div class="commit-title"><a href="[^"]+">(.*?)</a></div>', log)
        assert titles[:3] == ["Add notes", "Add weights", "Add the model card"]
        assert "Add notes" not in c.get("/carol/web-model/commits/v1.0").text
        refs = c.get("/carol/web-model/refs").text
        assert 'href="/carol/web-model/tree/dev"' in refs and 'href="/carol/web-model/tree/v1.0"' in refs
        assert 'href="/carol/web-model/tree/main"' in refs


def test_datasets_and_spaces_have_their_own_pages(site):
    with client(site) as c:
        data = c.get("/datasets/carol/web-data")
        assert data.status_code == 200 and "Dataset card" in data.text and "<h1>Some data</h1>" in data.text
        assert "cc0-1.0" in data.text
        assert "README.md" in c.get("/datasets/carol/web-data/tree/main").text
        space = c.get("/spaces/carol/web-space")
        assert space.status_code == 200 and "App card" in space.text and "static" in space.text
        # a dataset is not a model
        assert c.get("/carol/web-data").status_code == 404


def test_private_repos_are_invisible(site):
    pages = ["/carol/secret-model", "/carol/secret-model/tree/main", "/carol/secret-model/blob/main/README.md",
             "/carol/secret-model/commits/main", "/carol/secret-model/refs"]
    with client(site) as anon:
        for p in pages:
            r = anon.get(p)
            assert r.status_code == 404 and "text/html" in r.headers["content-type"], p
            assert "Secret" not in r.text
        assert "secret-model" not in anon.get("/carol").text
        assert "secret-model" not in anon.get("/", params={"q": "secret"}).text
    with closing(sign_in(site, "dave", DAVE_PW)) as dave:
        for p in pages:
            assert dave.get(p).status_code == 404, p
    with closing(sign_in(site, "carol", CAROL_PW)) as carol:
        for p in pages:
            assert carol.get(p).status_code == 200, p
        assert "carol/secret-model" in carol.get("/carol").text
    with client(site) as c:  # a token works for pages too
        assert c.get("/carol/secret-model", headers={"authorization": f"Bearer {site.carol}"}).status_code == 200


def test_user_and_org_pages(site):
    with client(site) as c:
        carol = c.get("/carol").text
        assert "carol/web-model" in carol and "carol/web-data" in carol and 'href="/carol-lab"' in carol
        lab = c.get("/carol-lab").text
        assert "organization" in lab and "carol-lab/lab-model" in lab
        members = re.search(r'<ul class="plain members">.*?</ul>', lab, re.S).group(0)
        assert re.search(r'href="/carol">carol</a> <span class="badge">admin', members)
        assert re.search(r'href="/dave">dave</a> <span class="badge">read', members)
        r = c.get("/nobody-here")
        assert r.status_code == 404 and "text/html" in r.headers["content-type"]


def test_sign_in_sign_out_and_csrf(site):
    with client(site) as c:
        c.get("/login")
        assert c.post("/login", data={"username": "carol", "password": CAROL_PW}).status_code == 403
        assert c.post("/login", data={"username": "carol", "password": CAROL_PW,
                                      "csrf": "forged"}).status_code == 403
        csrf = c.cookies["cove_login_csrf"]
        bad = c.post("/login", data={"csrf": csrf, "username": "carol", "password": "wrong"})
        assert bad.status_code == 401 and "Wrong username or password" in bad.text
        ok = c.post("/login", data={"csrf": csrf, "username": "carol", "password": CAROL_PW,
                                    "next": "//evil.example/"})
        assert ok.status_code == 303 and ok.headers["location"] == "/"
        cookie = ok.headers["set-cookie"].lower()
        assert "cove_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
        assert c.get("/settings/tokens").status_code == 200
        before = c.get("/settings/tokens").text.count("Revoke ")
        # state-changing forms without the session's CSRF token are refused, and change nothing
        assert c.post("/settings/tokens", data={"name": "forged", "role": "write"}).status_code == 403
        assert c.post("/settings/tokens", data={"name": "forged", "role": "write",
                                                "csrf": "0" * 64}).status_code == 403
        assert c.get("/settings/tokens").text.count("Revoke ") == before
        assert c.post("/logout", data={}).status_code == 403
        assert c.get("/settings/tokens").status_code == 200
        out = c.post("/logout", data={"csrf": page_csrf(c)})
        assert out.status_code == 303
        assert c.get("/settings/tokens").status_code == 303  # signed out: back to the sign-in page
    with client(site) as c:  # a token is not a browser session: no settings page, no forms
        r = c.get("/settings/tokens", headers={"authorization": f"Bearer {site.carol}"})
        assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_token_create_and_revoke_with_httpx(site):
    with closing(sign_in(site, "carol", CAROL_PW)) as c:
        r = c.post("/settings/tokens", data={"csrf": page_csrf(c), "name": "reader", "role": "read"})
        assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
        value = re.search(r'id="new-token" readonly value="([^"]+)"', r.text).group(1)
        who = HfApi(endpoint=site.url, token=value).whoami()
        assert who["name"] == "carol" and who["auth"]["accessToken"]["role"] == "read"
        assert value not in c.get("/settings/tokens").text  # shown once
        ids = re.findall(r'action="/settings/tokens/(\d+)/revoke"', c.get("/settings/tokens").text)
        token_id, kept_id = ids[-1], ids[0]  # the new one; the CLI's (site.carol)
        assert c.post(f"/settings/tokens/{token_id}/revoke", data={}).status_code == 403
        r = c.post(f"/settings/tokens/{token_id}/revoke", data={"csrf": page_csrf(c)})
        assert r.status_code == 303
        with pytest.raises(HfHubHTTPError):
            HfApi(endpoint=site.url, token=value).whoami()
    with closing(sign_in(site, "dave", DAVE_PW)) as dave:  # nobody revokes someone else's token
        r = dave.post(f"/settings/tokens/{kept_id}/revoke", data={"csrf": page_csrf(dave)})
        assert r.status_code == 403
    assert HfApi(endpoint=site.url, token=site.carol).whoami()["name"] == "carol"


def test_web_pages_do_not_shadow_other_routes(site):
    with client(site) as c:
        css = c.get("/static/cove.css")
        assert css.status_code == 200 and "text/css" in css.headers["content-type"]
        for path in ("/api/no-such", "/api/no-such/thing", "/api/models/carol/web-model/no-such-page"):
            r = c.get(path)  # the API keeps its JSON errors, even where a web page's pattern matches
            assert r.status_code in (400, 404) and r.headers["content-type"].startswith("application/json"), path
        info = c.get("/api/models/carol/web-model")
        assert info.status_code == 200 and info.json()["cardData"]["license"] == "mit"
        assert c.get("/carol/web-model/resolve/v1.0/model.safetensors").content == WEIGHTS
        git = c.get("/carol/web-model.git/info/refs", params={"service": "git-upload-pack"})
        assert "text/html" not in git.headers.get("content-type", "")


# -- the browser ----------------------------------------------------------------------------------


@pytest.mark.browser
@needs_chromium
def test_browser_walkthrough(site, tmp_path):
    from playwright.sync_api import expect

    dialogs: list[str] = []
    with chromium_page(dialogs=dialogs, accept_downloads=True) as page:

        # sign in with the password
        browser_sign_in(page, site.url, "carol", CAROL_PW)
        expect(page.locator(".top-nav .me")).to_have_text("carol")

        # search, open the repo, see the rendered card
        page.get_by_label("Search", exact=True).fill("web-model")
        page.get_by_label("Search", exact=True).press("Enter")
        page.get_by_role("link", name="carol/web-model").first.click()
        page.wait_for_url(f"{site.url}/carol/web-model")
        expect(page.locator(".markdown h1")).to_have_text("Tiny model")
        expect(page.locator(".markdown table")).to_be_visible()
        expect(page.locator(".meta-box")).to_contain_text("mit")
        expect(page.locator(".markdown")).to_contain_text('<script>alert("xss")</script>')
        page.screenshot(path="/tmp/cove-web.png", full_page=True)

        # the file list with its LFS mark, a folder, a file, a raw download
        page.get_by_role("link", name="Files").click()
        row = page.locator("tr.file", has_text="model.safetensors")
        expect(row.locator(".badge.lfs")).to_have_text("LFS")
        expect(row.locator("td.size")).to_have_text("2.0 kB")
        page.get_by_role("link", name="sub/").click()
        page.get_by_role("link", name="notes.txt", exact=True).click()
        expect(page.locator("pre.code")).to_have_text(NOTES.decode().rstrip("\n"))
        page.get_by_role("link", name="web-model").last.click()
        with page.expect_download() as download:
            page.get_by_role("link", name="Download model.safetensors").click()
        assert open(download.value.path(), "rb").read() == WEIGHTS

        # history, branches and tags
        page.get_by_role("link", name="Commits").click()
        expect(page.locator(".commit-title").first).to_have_text("Add notes")
        page.get_by_role("link", name="Branches & tags").click()
        expect(page.locator("section.refs").last).to_contain_text("v1.0")
        page.get_by_role("link", name="v1.0", exact=True).click()
        expect(page.locator("tr.file", has_text="model.safetensors")).to_be_visible()
        expect(page.locator("tr.directory")).to_have_count(0)

        # a token made on the settings page works, and stops working once revoked
        page.get_by_role("link", name="Settings", exact=True).click()
        page.get_by_label("Name").fill("browser-token")
        page.get_by_label("Role").select_option("write")
        page.get_by_role("button", name="Create token").click()
        value = page.locator("#new-token").input_value()
        assert value.startswith("cove_")
        assert HfApi(endpoint=site.url, token=value).whoami()["name"] == "carol"
        page.get_by_role("button", name="Revoke browser-token").click()
        expect(page.get_by_role("button", name="Revoke browser-token")).to_have_count(0)
        with pytest.raises(HfHubHTTPError):
            HfApi(endpoint=site.url, token=value).whoami()

        # sign out
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("link", name="Sign in")).to_be_visible()
        page.goto(f"{site.url}/carol/secret-model")
        expect(page.locator("h1")).to_have_text("Not found")
    assert dialogs == []  # no script from repo content ever ran
