"""The audit log against a real ``cove serve``: each kind of security event is recorded with its actor,
client IP and target, no secret ever reaches it, and only Hub admins can read it (JSON lines from the
API, a paginated table on the web, ``cove audit`` from the data dir).

The accounts (ada, a Hub admin; olly and pim; the olly-lab org) are used by no other test module.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from huggingface_hub import HfApi

ADA_PW = "ada-admin-pass-1"
OLLY_PW = "olly-web-pass-1"
WRONG_PW = "not-ollys-pass-9"
LOCAL = "127.0.0.1"


@pytest.fixture(scope="module")
def tokens(hub) -> dict[str, str]:
    return {"ada": hub.user("ada", admin=True, password=ADA_PW), "olly": hub.user("olly", password=OLLY_PW),
            "pim": hub.user("pim")}


def events(hub, token: str, **params) -> list[dict]:
    r = httpx.get(f"{hub.url}/api/admin/audit", params=params, headers={"authorization": f"Bearer {token}"},
                  timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in r.text.splitlines()]


def one(found: list[dict], **match) -> dict:
    hits = [e for e in found if all(e.get(k) == v for k, v in match.items())]
    assert len(hits) == 1, (match, found)
    return hits[0]


def web_client(hub) -> httpx.Client:
    return httpx.Client(base_url=hub.url, follow_redirects=False, timeout=30)


def sign_in(c: httpx.Client, name: str, password: str) -> httpx.Response:
    csrf = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
    return c.post("/login", data={"csrf": csrf, "username": name, "password": password, "next": "/"})


def page_csrf(c: httpx.Client) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', c.get("/settings/tokens").text).group(1)


def uniq(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:8]}"


def test_cli_accounts_and_orgs_are_recorded(hub, tokens):
    hub.cli("orgs", "add", "olly-lab", "--owner", "olly")
    hub.cli("orgs", "add-member", "olly-lab", "pim", "--role", "write")
    extra = hub.token("pim", read_only=True)
    log = events(hub, tokens["ada"])
    created = one(log, action="user.create", target="olly")
    assert created["actor"] is None and created["ip"] is None and created["detail"] == {"admin": False, "via": "cli"}
    assert one(log, action="user.create", target="ada")["detail"]["admin"] is True
    assert one(log, action="token.create", target="olly/cli")["detail"] == {"role": "write", "via": "cli"}
    read = [e for e in log if e["action"] == "token.create" and e["target"] == "pim/cli"]
    assert [e["detail"]["role"] for e in read] == ["write", "read"]  # users add, then tokens add --read-only
    assert one(log, action="org.create", target="olly-lab")["detail"] == {"owner": "olly", "via": "cli"}
    assert one(log, action="org.member", target="olly-lab")["detail"] == {"user": "pim", "role": "write",
                                                                          "via": "cli"}
    assert extra not in json.dumps(log)


def test_web_sign_in_and_tokens_are_recorded(hub, tokens):
    with web_client(hub) as c:
        assert sign_in(c, "olly", WRONG_PW).status_code == 401
        assert sign_in(c, "olly", OLLY_PW).status_code == 303
        page = c.post("/settings/tokens", data={"csrf": page_csrf(c), "name": "laptop", "role": "write"})
        value = re.search(r'id="new-token" readonly value="([^"]+)"', page.text).group(1)
        token_id = re.search(r'/settings/tokens/(\d+)/revoke"[^>]*>\s*<input[^>]*>\s*<button[^>]*Revoke laptop',
                             page.text).group(1)
        assert c.post(f"/settings/tokens/{token_id}/revoke", data={"csrf": page_csrf(c)}).status_code == 303
    log = events(hub, tokens["ada"], actor="olly")
    assert one(log, action="user.login") == {**one(log, action="user.login"), "actor": "olly", "ip": LOCAL,
                                             "target": "olly", "detail": {"via": "web"}}
    made = one(log, action="token.create", target="olly/laptop")
    assert (made["ip"], made["detail"]) == (LOCAL, {"role": "write", "via": "web"})
    assert one(log, action="token.revoke", target="olly/laptop")["ip"] == LOCAL
    failed = one(events(hub, tokens["ada"], action="user.login_failed"), target="olly")
    assert failed["actor"] is None and failed["ip"] == LOCAL
    raw = httpx.get(f"{hub.url}/api/admin/audit", headers={"authorization": f"Bearer {tokens['ada']}"}).text
    for secret in (value, OLLY_PW, WRONG_PW, ADA_PW, tokens["olly"], tokens["ada"]):
        assert secret not in raw


def test_repo_visibility_move_delete_and_org_api_are_recorded(hub, tokens):
    api = HfApi(endpoint=hub.url, token=tokens["olly"])
    repo, moved = f"olly/{uniq('vis')}", f"olly/{uniq('moved')}"
    api.create_repo(repo)
    api.update_repo_settings(repo, private=True)
    api.update_repo_settings(repo, gated="auto")
    api.move_repo(repo, moved)
    api.delete_repo(moved)
    org = uniq("olly-org")
    r = httpx.post(f"{hub.url}/api/organizations/new", json={"name": org},
                   headers={"authorization": f"Bearer {tokens['olly']}"})
    assert r.status_code == 200, r.text
    log = events(hub, tokens["ada"], actor="olly", action="repo.*")
    vis = one(log, action="repo.visibility", target=f"models/{repo}")
    assert (vis["ip"], vis["detail"]) == (LOCAL, {"private": True})
    assert one(log, action="repo.gated", target=f"models/{repo}")["detail"] == {"gated": "auto"}
    assert one(log, action="repo.move", target=f"models/{repo}")["detail"] == {"to": moved}
    assert one(log, action="repo.delete", target=f"models/{moved}")["ip"] == LOCAL
    assert one(events(hub, tokens["ada"], action="org.create", actor="olly"), target=org)["detail"] == \
        {"owner": "olly"}
    # olly acted on olly's own repos: no admin override
    assert not [e for e in events(hub, tokens["ada"], action="admin.override") if repo in e["target"]]


def test_admin_overrides_are_recorded(hub, tokens):
    olly = HfApi(endpoint=hub.url, token=tokens["olly"])
    ada = HfApi(endpoint=hub.url, token=tokens["ada"])
    theirs, mine = f"olly/{uniq('theirs')}", f"ada/{uniq('mine')}"
    olly.create_repo(theirs, private=True)
    ada.upload_file(path_or_fileobj=b"admin was here\n", path_in_repo="note.txt", repo_id=theirs)
    ada.create_branch(theirs, branch="admin-branch")
    ada.update_repo_settings(theirs, private=False)
    ada.delete_repo(theirs)
    ada.create_repo(mine)
    ada.update_repo_settings(mine, private=True)
    log = events(hub, tokens["ada"], actor="ada")
    overrides = [(e["target"], e["detail"]["action"]) for e in log if e["action"] == "admin.override"]
    assert (f"models/{theirs}", "repo.commit") in overrides
    assert (f"models/{theirs}", "repo.branch.create") in overrides
    assert (f"models/{theirs}", "repo.visibility") in overrides
    assert (f"models/{theirs}", "repo.delete") in overrides
    assert not [t for t, _ in overrides if t == f"models/{mine}"]  # ada's own repo
    assert one(log, action="repo.delete", target=f"models/{theirs}")["ip"] == LOCAL
    assert one(log, action="repo.visibility", target=f"models/{mine}")["detail"] == {"private": True}


def test_only_admins_read_the_log(hub, tokens):
    url = f"{hub.url}/api/admin/audit"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"authorization": f"Bearer {tokens['olly']}"}).status_code == 403
    with web_client(hub) as c:
        assert c.get("/settings/audit").status_code == 404
        sign_in(c, "olly", OLLY_PW)
        page = c.get("/settings/audit")
        assert page.status_code == 404 and "user.login" not in page.text
        assert "Audit log" not in c.get("/").text
    with web_client(hub) as c:
        for i in range(55):  # more than a page of events (names vary: each may fail 10 times in 5 min)
            assert sign_in(c, f"no-such-user-{i % 6}", WRONG_PW).status_code == 401
    with web_client(hub) as c:
        assert sign_in(c, "ada", ADA_PW).status_code == 303
        assert '<a href="/settings/audit">Audit log</a>' in c.get("/").text
        page = c.get("/settings/audit")
        assert page.status_code == 200 and "<h1>Audit log</h1>" in page.text
        rows = re.findall(r"<tr>\s*<td>(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)</td>", page.text)
        assert len(rows) == 50 and rows == sorted(rows, reverse=True)  # a full page, newest first
        assert 'href="/settings/audit?offset=50' in page.text
        assert "<code>user.login</code>" in page.text  # ada's own sign-in is the newest row
        older = c.get("/settings/audit", params={"offset": 50})
        assert older.status_code == 200 and "← Newer" in older.text
        filtered = c.get("/settings/audit", params={"action": "repo.*", "actor": "olly"}).text
        actions = set(re.findall(r"<td><code>([a-z._]+)</code></td>", filtered))
        assert actions and actions <= {"repo.visibility", "repo.gated", "repo.move", "repo.delete"}


def test_api_filters_and_order(hub, tokens):
    everything = events(hub, tokens["ada"], limit=10_000)
    times = [e["time"] for e in everything]
    assert times == sorted(times) and len({e["id"] for e in everything}) == len(everything)
    assert all(set(e) == {"id", "time", "action", "actor", "ip", "target", "detail"} for e in everything)
    assert datetime.fromisoformat(times[-1]).tzinfo == UTC
    last3 = events(hub, tokens["ada"], limit=3)
    assert last3 == everything[-3:]
    since = everything[len(everything) // 2]["time"]
    assert events(hub, tokens["ada"], since=since, limit=2) == everything[len(everything) // 2:][:2]
    assert all(e["action"].startswith("token.") for e in events(hub, tokens["ada"], action="token.*"))
    bad = httpx.get(f"{hub.url}/api/admin/audit", params={"since": "yesterday"},
                    headers={"authorization": f"Bearer {tokens['ada']}"})
    assert bad.status_code == 400


def test_cove_audit_prints_json_lines(hub, tokens):
    out = hub.cli("audit", "--action", "user.create", "--limit", "5")
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines and all(e["action"] == "user.create" for e in lines)
    assert {"olly", "ada"} <= {e["target"] for e in events(hub, tokens["ada"], action="user.create")}
