"""Discussions through the stock huggingface_hub client: open, list (filters, paging), read, comment, edit
with history, hide, rename, close and reopen; who may do what on public and private repos; limits on
titles, comments and the rate of new discussions; Markdown rendered without any active content."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser

import httpx
import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

from tests.conftest import start_server, stop_server
from tests.e2e.test_collections import status_of, uniq


class Elements(HTMLParser):
    """The elements of an HTML fragment, with their attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, list]] = []

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, attrs))


@pytest.mark.parametrize("repo_type", ["model", "dataset", "space"])
def test_discussion_lifecycle(api, other, hub, repo_type):
    repo_id = api.create_repo(uniq("alice/disc"), repo_type=repo_type,
                              space_sdk="static" if repo_type == "space" else None).repo_id
    pr = api.create_discussion(repo_id, title="Test Pull Request", pull_request=True, repo_type=repo_type)
    d = other.create_discussion(repo_id, title="  Typo in card  ", description="It says *teh*", repo_type=repo_type)
    assert (pr.num, d.num) == (1, 2)  # one sequence for both
    assert (d.title, d.author, d.is_pull_request, d.status) == ("Typo in card", "bob", False, "open")
    assert pr.status == "draft" and pr.git_reference == "refs/pr/1"
    prefix = {"model": "", "dataset": "datasets/", "space": "spaces/"}[repo_type]
    assert d.url == f"{hub.url}/{prefix}{repo_id}/discussions/2"
    assert len(d.events) == 1 and d.events[0].content == "It says *teh*"
    assert d.events[0].rendered == "<p>It says <em>teh</em></p>\n"

    assert [x.num for x in api.get_repo_discussions(repo_id, repo_type=repo_type)] == [2, 1]
    assert [x.num for x in api.get_repo_discussions(repo_id, repo_type=repo_type, discussion_type="pull_request")] == [1]
    assert [x.num for x in api.get_repo_discussions(repo_id, repo_type=repo_type, discussion_type="discussion")] == [2]
    assert [x.num for x in api.get_repo_discussions(repo_id, repo_type=repo_type, author="bob")] == [2]
    assert list(api.get_repo_discussions(repo_id, repo_type=repo_type, author="nobody-at-all")) == []

    reply = api.comment_discussion(repo_id, 2, "Thanks @bob, fixing", repo_type=repo_type)
    first = d.events[0]
    edited = other.edit_discussion_comment(repo_id, 2, first.id, "It says **teh**", repo_type=repo_type)
    assert edited.edited and edited.content == "It says **teh**" and edited.number_of_edits == 1
    assert edited.edit_history[0]["raw"] == "It says *teh*"
    # only the author edits a comment, even a writer may not
    assert status_of(lambda: api.edit_discussion_comment(repo_id, 2, first.id, "x", repo_type=repo_type)) == 403
    rename = other.rename_discussion(repo_id, 2, "Typo in the card", repo_type=repo_type)
    assert (rename.old_title, rename.new_title) == ("Typo in card", "Typo in the card")
    closed = other.change_discussion_status(repo_id, 2, "closed", comment="Done", repo_type=repo_type)
    assert closed.new_status == "closed"
    assert [x.num for x in api.get_repo_discussions(repo_id, repo_type=repo_type, discussion_status="open")] == [1]
    assert [x.num for x in api.get_repo_discussions(repo_id, repo_type=repo_type, discussion_status="closed")] == [2]

    details = api.get_discussion_details(repo_id, 2, repo_type=repo_type)
    assert [e.type for e in details.events] == ["comment", "comment", "title-change", "comment", "status-change"]
    assert details.events[1].id == reply.id and details.events[2].id == rename.id
    assert details.events[-1].id == closed.id
    assert details.events[0].content == "It says **teh**" and details.events[0].edited
    assert '<a href="/bob" class="mention"' in details.events[1].rendered  # a mention of a user links to them
    assert details.title == "Typo in the card" and details.status == "closed"

    hidden = api.hide_discussion_comment(repo_id, 2, reply.id, repo_type=repo_type)
    assert hidden.hidden and hidden.content == ""
    assert api.get_discussion_details(repo_id, 2, repo_type=repo_type).events[1].hidden
    reopened = api.change_discussion_status(repo_id, 2, "open", repo_type=repo_type)  # a writer reopens
    assert reopened.new_status == "open"


def test_who_may_do_what(api, other, hub):
    repo_id = api.create_repo(uniq("alice/perm")).repo_id
    d = api.create_discussion(repo_id, title="Owner's")
    c = api.comment_discussion(repo_id, d.num, "mine")
    # another user may comment, but not close, rename or hide what is not theirs
    other.comment_discussion(repo_id, d.num, "hello")
    assert status_of(lambda: other.change_discussion_status(repo_id, d.num, "closed")) == 403
    assert status_of(lambda: other.rename_discussion(repo_id, d.num, "Hacked")) == 403
    assert status_of(lambda: other.hide_discussion_comment(repo_id, d.num, c.id)) == 403
    # their own discussion they may close, the repo's writer too
    mine = other.create_discussion(repo_id, title="Bob's")
    other.change_discussion_status(repo_id, mine.num, "closed")
    api.change_discussion_status(repo_id, mine.num, "open")
    # anonymous callers read, and may not write
    anon = HfApi(endpoint=hub.url, token=False)
    assert [x.num for x in anon.get_repo_discussions(repo_id)] == [2, 1]
    assert status_of(lambda: anon.create_discussion(repo_id, title="x")) == 401
    read_only = HfApi(endpoint=hub.url, token=hub.token("bob", read_only=True))
    assert status_of(lambda: read_only.comment_discussion(repo_id, d.num, "x")) == 403
    # a missing discussion is a 404 without the repo's error code
    r = httpx.get(f"{hub.url}/api/models/{repo_id}/discussions/99")
    assert r.status_code == 404 and r.headers["x-error-code"] == "NotFound"
    with pytest.raises(HfHubHTTPError) as e:
        api.get_discussion_details(repo_id, 99)
    assert not isinstance(e.value, RepositoryNotFoundError)
    assert status_of(lambda: api.edit_discussion_comment(repo_id, d.num, "0" * 24, "x")) == 404
    r = httpx.post(f"{hub.url}/api/models/{repo_id}/discussions/{d.num}/status", json={"status": "merged"},
                   headers={"authorization": f"Bearer {api.token}"})
    assert r.status_code == 400  # the client refuses it itself; the server too


def test_private_repo_is_missing_to_outsiders(api, other, hub):
    repo_id = api.create_repo(uniq("alice/secret"), private=True).repo_id
    d = api.create_discussion(repo_id, title="Internal")
    for call in (lambda: list(other.get_repo_discussions(repo_id)),
                 lambda: other.get_discussion_details(repo_id, d.num),
                 lambda: other.create_discussion(repo_id, title="Let me in"),
                 lambda: other.comment_discussion(repo_id, d.num, "hi"),
                 lambda: other.change_discussion_status(repo_id, d.num, "closed"),
                 lambda: other.create_pull_request(repo_id, title="PR")):
        with pytest.raises(RepositoryNotFoundError):
            call()
    for path in ("/discussions", f"/discussions/{d.num}", "/discussions/99"):
        r = httpx.get(f"{hub.url}/api/models/{repo_id}{path}")
        assert r.status_code == 404 and r.headers["x-error-code"] == "RepoNotFound"
    assert [x.num for x in api.get_repo_discussions(repo_id)] == [1]


def test_paging_and_rate_limit(tmp_path):
    """55 discussions page as 50 + 5, newest first; the 61st in a minute, past COVE_DISCUSSIONS_PER_MINUTE, is 429."""
    server = start_server(tmp_path / "data", env={"COVE_DISCUSSIONS_PER_MINUTE": "60"})
    try:
        token = server.user("carol")
        api = HfApi(endpoint=server.url, token=token)
        repo_id = api.create_repo("carol/many").repo_id
        url = f"{server.url}/api/models/{repo_id}/discussions"
        auth = {"authorization": f"Bearer {token}"}
        for i in range(55):  # straight to the API: the client would read each one back
            r = httpx.post(url, json={"title": f"D{i}", "description": "x"}, headers=auth)
            assert r.status_code == 200, r.text
        assert [x.num for x in api.get_repo_discussions(repo_id)] == list(range(55, 0, -1))
        page = httpx.get(url, params={"p": 1}).json()
        assert (page["start"], page["count"], len(page["discussions"])) == (50, 55, 5)
        assert httpx.get(url, params={"p": 2}).json()["discussions"] == []
        assert httpx.get(url, params={"p": "x"}).status_code == 400
        assert httpx.get(url, params={"status": "weird"}).status_code == 400
        for i in range(5):
            api.create_discussion(repo_id, title=f"E{i}")
        with pytest.raises(HfHubHTTPError) as e:
            api.create_discussion(repo_id, title="one too many")
        assert e.value.response.status_code == 429 and "in the last minute" in str(e.value)
        assert e.value.response.headers["retry-after"] == "60"
        assert len(list(api.get_repo_discussions(repo_id))) == 60
        other = api.create_repo("carol/quiet").repo_id  # the limit is per repo
        api.create_discussion(other, title="fine")
    finally:
        stop_server(server)


def test_hostile_markdown_is_inert(api):
    repo_id = api.create_repo(uniq("alice/xss")).repo_id
    evil = ('<script>alert(1)</script> <img src=x onerror="alert(2)"> [click](javascript:alert(3)) '
            '[data](data:text/html;base64,PHNjcmlwdD4=) ![i](JaVaScRiPt:alert(4)) <a href="javascript:x">a</a> '
            '[ok](https://example.org/p?q=1)')
    d = api.create_discussion(repo_id, title="<b>bold</b> title", description=evil)
    html = d.events[0].rendered
    elements = Elements()
    elements.feed(html)
    assert {tag for tag, _ in elements.found} <= {"p", "a"}  # no script, no img of the author's
    for _tag, attrs in elements.found:
        for name, value in attrs:
            assert not name.startswith("on")
            if name in ("href", "src"):
                assert value == "https://example.org/p?q=1" or value == "#", value
    assert "&lt;script&gt;" in html  # shown as text
    assert '<a href="https://example.org/p?q=1" rel="nofollow noopener noreferrer">ok</a>' in html
    assert d.title == "<b>bold</b> title"  # kept as text: pages escape it


def test_limits(api, hub):
    repo_id = api.create_repo(uniq("alice/limits")).repo_id
    assert status_of(lambda: api.create_discussion(repo_id, title="x" * 201)) == 400
    assert status_of(lambda: api.create_discussion(repo_id, title="   ")) == 400
    d = api.create_discussion(repo_id, title="ok")
    assert status_of(lambda: api.comment_discussion(repo_id, d.num, "x" * 70_000)) == 400
    r = httpx.post(f"{hub.url}/api/models/{repo_id}/discussions", content=b"[1,2]",
                   headers={"authorization": f"Bearer {api.token}"})
    assert r.status_code == 400
    r = httpx.post(f"{hub.url}/api/models/{repo_id}/discussions/{d.num}/comment", json={"comment": 5},
                   headers={"authorization": f"Bearer {api.token}"})
    assert r.status_code == 400
    # numbers that str.isdigit accepts and int refuses ("¹", "①") or reads from another script ("٣"):
    # a 400, never a 500 (schemathesis found "¹" as a discussion number)
    auth = {"authorization": f"Bearer {api.token}"}
    for num in ("¹", "①", "٣", "1²", "+1", "1_0", " 1"):
        for method, path in (("GET", ""), ("POST", "/comment/abc/hide"), ("POST", "/status")):
            r = httpx.request(method, f"{hub.url}/api/models/{repo_id}/discussions/{num}{path}", headers=auth, json={})
            assert r.status_code == 400, (num, path, r.status_code, r.text)
    r = httpx.get(f"{hub.url}/{repo_id}/discussions/①", headers=auth)  # the web page's own number check
    assert r.status_code == 400, r.status_code


def test_hf_discussions_cli(api, hub, tmp_path):
    repo_id = api.create_repo(uniq("alice/cli")).repo_id
    api.create_discussion(repo_id, title="From the API")
    env = {"HF_ENDPOINT": hub.url, "HF_TOKEN": api.token, "HF_HOME": str(tmp_path / "hf"),
           "HF_HUB_DISABLE_TELEMETRY": "1", "PATH": "/usr/bin:/bin"}

    def hf(*args: str) -> str:
        proc = subprocess.run([sys.executable, "-m", "huggingface_hub.cli.hf", "discussions", *args],
                              capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 0, proc.stderr + proc.stdout
        return proc.stdout

    hf("create", repo_id, "--title", "From the CLI", "--body", "Hello")
    listed = hf("list", repo_id)
    assert "From the API" in listed and "From the CLI" in listed
    hf("comment", repo_id, "2", "--body", "A comment")
    shown = hf("info", repo_id, "2")
    assert "A comment" in shown
    hf("close", repo_id, "2", "--yes")
    assert api.get_discussion_details(repo_id, 2).status == "closed"


def test_discussions_opened_at_once_get_distinct_numbers(api, hub):
    repo_id = api.create_repo(uniq("alice/race")).repo_id
    url = f"{hub.url}/api/models/{repo_id}/discussions"

    def open_one(i: int) -> int:
        r = httpx.post(url, json={"title": f"T{i}", "pullRequest": i % 2 == 0},
                       headers={"authorization": f"Bearer {api.token}"}, timeout=60)
        assert r.status_code == 200, r.text
        return r.json()["num"]

    with ThreadPoolExecutor(8) as pool:
        nums = list(pool.map(open_one, range(8)))
    assert sorted(nums) == list(range(1, 9))
    prs = {r.ref for r in api.list_repo_refs(repo_id, include_pull_requests=True).pull_requests}
    assert prs == {f"refs/pr/{n}" for n, i in zip(nums, range(8)) if i % 2 == 0}
