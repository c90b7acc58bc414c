"""Notifications in the web UI: a new discussion or pull request on one's repo, a reply where one took
part, a mention, an access request; the count in the header, the page, marking read (CSRF), and nothing
of a private repo for those who may not see it."""

from __future__ import annotations

import html
import re
from contextlib import closing

import pytest
from huggingface_hub import CommitOperationAdd, HfApi

from tests.e2e.test_audit import page_csrf, sign_in, uniq, web_client


@pytest.fixture(scope="module")
def users(hub):
    return {n: hub.user(n, password=f"{n}-pass-123") for n in ("ntowner", "ntfan", "ntthird")}


def api(hub, users, name: str) -> HfApi:
    return HfApi(endpoint=hub.url, token=users[name])


def session(hub, name: str):
    c = web_client(hub)
    assert sign_in(c, name, f"{name}-pass-123").status_code == 303
    return c


def unread(c) -> int:
    return int(re.search(r"Notifications \((\d+) unread\)", c.get("/notifications").text).group(1))


def items(c) -> list[str]:
    page = c.get("/notifications").text
    return [html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", m))).strip()
            for m in re.findall(r'<li class="notification[^"]*">(.*?)</li>', page, re.S)]


def test_what_concerns_a_user(hub, users):
    owner, fan = api(hub, users, "ntowner"), api(hub, users, "ntfan")
    repo = owner.create_repo(uniq("ntowner/talk")).repo_id
    with closing(session(hub, "ntowner")) as o, closing(session(hub, "ntfan")) as f, \
            closing(session(hub, "ntthird")) as t:
        base = {name: unread(c) for name, c in (("o", o), ("f", f), ("t", t))}
        d = fan.create_discussion(repo, title="<b>Question</b>", description="cc @ntthird, what about this?")
        assert unread(o) == base["o"] + 1 and unread(t) == base["t"] + 1 and unread(f) == base["f"]
        assert items(o)[0].startswith(f"ntfan opened a discussion on {repo}: <b>Question</b>")
        assert "&lt;b&gt;Question" in o.get("/notifications").text  # escaped
        assert items(t)[0].startswith(f"ntfan mentioned you on {repo}")
        owner.comment_discussion(repo, d.num, "Thanks!")
        assert items(f)[0].startswith(f"ntowner replied in a discussion on {repo}")
        assert unread(o) == base["o"] + 1  # nobody is told of their own comment
        fan.create_pull_request(repo, title="A fix")
        assert items(o)[0].startswith(f"ntfan opened a pull request on {repo}: A fix")
        assert f'href="/{repo}/discussions/{d.num}"' in o.get("/notifications").text

        # a gated repo's access request reaches its owner
        gated = owner.create_repo(uniq("ntowner/gated")).repo_id
        owner.create_commit(gated, [CommitOperationAdd("w.bin", b"1")], commit_message="w")
        owner.update_repo_settings(gated, gated="manual")
        assert t.post(f"/{gated}/ask-access", data={"csrf": page_csrf(t)}).status_code == 303
        assert items(o)[0].startswith(f"ntthird asked for access to {gated}")
        assert f'href="/{gated}/settings"' in o.get("/notifications").text

        # a private repo's mention reaches nobody who may not see it
        secret = owner.create_repo(uniq("ntowner/secret"), private=True).repo_id
        before = unread(t)
        owner.create_discussion(secret, title="Hush", description="@ntthird should not hear of this")
        assert unread(t) == before and "Hush" not in t.get("/notifications").text

        # marking read: the form needs the session's token; one's own notifications only
        count = unread(o)
        assert o.post("/notifications/read", data={"csrf": "forged"}).status_code == 403
        first = re.search(r'name="id" value="(\d+)"', o.get("/notifications").text).group(1)
        assert f.post("/notifications/read", data={"csrf": page_csrf(f), "id": first}).status_code == 303
        assert unread(o) == count
        assert o.post("/notifications/read", data={"csrf": page_csrf(o), "id": first}).status_code == 303
        assert unread(o) == count - 1
        assert o.post("/notifications/read", data={"csrf": page_csrf(o)}).status_code == 303
        assert unread(o) == 0 and 'class="count"' not in o.get("/").text
    assert web_client(hub).get("/notifications").status_code == 303  # anonymous: sign in first
