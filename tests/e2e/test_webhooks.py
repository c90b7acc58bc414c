"""Webhooks through the stock client: management (create, list, get, update, enable, disable, delete),
refused targets, and deliveries to a receiver on 127.0.0.1 that checks the secret and the payload with
the client's own ``WebhookPayload`` model: commits, tags, git pushes, discussions and comments, retries
after a failure, a delivery that waits through a restart of the Hub, and the owner's delivery log.

The Hub here is the module's own: it allows deliveries to 127.0.0.1 and retries after one second."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from contextlib import closing
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from huggingface_hub import HfApi
from huggingface_hub._webhooks_payload import WebhookPayload
from huggingface_hub.errors import HfHubHTTPError

from tests.conftest import free_port, start_server, stop_server

SECRET = "hook-secret-123"
ENV = {"COVE_WEBHOOK_ALLOW": "127.0.0.1", "COVE_WEBHOOK_RETRY_SECONDS": "1", "COVE_WEBHOOK_TIMEOUT_SECONDS": "5"}


class Receiver:
    """An HTTP server on 127.0.0.1 that records what it is sent; ``fail`` answers 500 that many times first."""

    def __init__(self, port: int | None = None) -> None:
        self.got: list[tuple[dict, dict]] = []
        self.fail = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with outer.lock:
                    if self.headers.get("X-Webhook-Secret") != SECRET:
                        status = 401
                    elif outer.fail > 0:
                        outer.fail -= 1
                        status = 500
                    else:
                        status = 200
                        outer.got.append((dict(self.headers), json.loads(body)))
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"try again")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port or 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait(self, pred, timeout: float = 20) -> dict:
        """The first payload received that ``pred`` accepts (checked against the client's model)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for headers, payload in self.got:
                    if pred(payload):
                        WebhookPayload.model_validate(payload) if hasattr(WebhookPayload, "model_validate") \
                            else WebhookPayload.parse_obj(payload)
                        assert headers["Content-Type"] == "application/json"
                        assert headers["X-Webhook-Signature"].startswith("sha256=")
                        return payload
            time.sleep(0.05)
        raise AssertionError(f"no matching delivery; got {[p['event'] for _, p in self.got]}")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("webhooks") / "data", env=ENV)
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def receiver():
    r = Receiver()
    yield r
    r.close()


def api_of(server, name: str) -> HfApi:
    return HfApi(endpoint=server.url, token=server.user(name))


def event(scope: str, action: str, repo: str, **more):
    def pred(p: dict) -> bool:
        if p["event"] != {"scope": scope, "action": action} or p["repo"]["name"] != repo:
            return False
        return all(p.get(k) == v or (callable(v) and v(p.get(k))) for k, v in more.items())
    return pred


def test_manage_webhooks_with_the_client(server, receiver):
    api = api_of(server, "hookie")
    api.create_repo("hookie/managed")
    hook = api.create_webhook(url=receiver.url, watched=[{"type": "model", "name": "hookie/managed"},
                                                         {"type": "user", "name": "hookie"}],
                              domains=["repo"], secret=SECRET)
    assert re.fullmatch(r"[0-9a-f]{24}", hook.id) and hook.secret == SECRET and not hook.disabled
    assert [(w.type, w.name) for w in hook.watched] == [("model", "hookie/managed"), ("user", "hookie")]
    assert api.get_webhook(hook.id).url == receiver.url
    assert [h.id for h in api.list_webhooks()] == [hook.id]
    # huggingface_hub 2.5 sends the whole watched list and domains on every update: they replace
    moved = api.update_webhook(hook.id, url=receiver.url + "?v=2", watched=[{"type": "model", "name": "hookie/managed"}],
                               domains=["repo", "discussion"])
    assert moved.url.endswith("?v=2") and moved.domains == ["repo", "discussion"]
    assert [(w.type, w.name) for w in api.get_webhook(hook.id).watched] == [("model", "hookie/managed")]
    # an older client sends only what changed (no watched, no domains): what is left out stays
    answer = httpx.post(f"{server.url}/api/settings/webhooks/{hook.id}", json={"url": receiver.url},
                        headers={"authorization": f"Bearer {server.user('hookie')}"})
    assert answer.status_code == 200, answer.text
    kept = api.get_webhook(hook.id)
    assert kept.url == receiver.url and len(kept.watched) == 1 and kept.domains == ["repo", "discussion"]
    with pytest.raises(HfHubHTTPError) as err:  # a Job to start instead of a URL: this Hub runs no Jobs
        api.update_webhook(hook.id, job_id="0123456789abcdef01234567", watched=[{"type": "user", "name": "hookie"}],
                           domains=["repo"])
    assert err.value.response.status_code == 400 and "Job" in err.value.response.text
    assert api.get_webhook(hook.id).url == receiver.url
    assert api.disable_webhook(hook.id).disabled is True
    assert api.enable_webhook(hook.id).disabled is False
    other = api_of(server, "hookother")
    with pytest.raises(HfHubHTTPError) as err:
        other.get_webhook(hook.id)
    assert err.value.response.status_code == 404
    with pytest.raises(HfHubHTTPError):
        other.delete_webhook(hook.id)
    api.delete_webhook(hook.id)
    assert api.list_webhooks() == []
    with pytest.raises(HfHubHTTPError) as err:
        api.get_webhook(hook.id)
    assert err.value.response.status_code == 404


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "http://10.20.30.40/hook", "http://[::1]:9/x",
                                 "http://user:pw@127.0.0.1:9/x", "not a url"])
def test_refused_targets(server, url):
    api = api_of(server, "hookie")
    with pytest.raises(HfHubHTTPError) as err:
        api.create_webhook(url=url, watched=[{"type": "user", "name": "hookie"}])
    assert err.value.response.status_code == 400


def test_the_hub_itself_is_refused(server):
    api = api_of(server, "hookie")
    port = server.url.rsplit(":", 1)[1]
    for url in (f"{server.url}/api/repos/create", f"http://localhost:{port}/x"):
        with pytest.raises(HfHubHTTPError) as err:
            api.create_webhook(url=url, watched=[{"type": "user", "name": "hookie"}])
        assert err.value.response.status_code == 400 and "itself" in err.value.response.text


def test_watching_what_one_cannot_see_is_refused(server, receiver):
    owner = api_of(server, "hookpriv")
    owner.create_repo("hookpriv/secret", private=True)
    with pytest.raises(HfHubHTTPError) as err:
        api_of(server, "hookie").create_webhook(url=receiver.url, watched=[{"type": "model", "name": "hookpriv/secret"}])
    assert err.value.response.status_code == 404
    with pytest.raises(HfHubHTTPError) as err:
        api_of(server, "hookie").create_webhook(url=receiver.url, watched=[{"type": "org", "name": "nobody-here"}])
    assert err.value.response.status_code == 400


def test_repo_and_discussion_deliveries(server, receiver):
    api = api_of(server, "hookdev")
    repo = "hookdev/events"
    api.create_repo(repo)
    hook = api.create_webhook(url=receiver.url, watched=[{"type": "model", "name": repo}], secret=SECRET)
    info = api.upload_file(path_or_fileobj=b"hello", path_in_repo="a.txt", repo_id=repo)
    p = receiver.wait(event("repo.content", "update", repo))
    assert p["updatedRefs"][0]["ref"] == "refs/heads/main" and p["updatedRefs"][0]["newSha"] == info.oid
    assert p["webhook"] == {"id": hook.id, "version": 3}
    assert p["repo"]["url"]["web"].endswith(f"/{repo}") and p["repo"]["headSha"] == info.oid
    api.create_tag(repo, tag="v1")
    tag = receiver.wait(event("repo.content", "update", repo,
                              updatedRefs=lambda refs: refs[0]["ref"] == "refs/tags/v1"))
    assert tag["updatedRefs"][0]["oldSha"] is None and tag["updatedRefs"][0]["newSha"] == info.oid
    d = api.create_discussion(repo, title="Hooked?", description="first words")
    opened = receiver.wait(event("discussion", "create", repo))
    assert opened["discussion"]["num"] == d.num and opened["discussion"]["isPullRequest"] is False
    assert opened["comment"]["content"] == "first words"
    c = api.comment_discussion(repo, d.num, "a reply")
    reply = receiver.wait(event("discussion.comment", "create", repo))
    assert reply["comment"]["id"] == c.id and reply["comment"]["content"] == "a reply"
    api.change_discussion_status(repo, d.num, "closed")
    closed = receiver.wait(event("discussion", "update", repo,
                                 discussion=lambda x: x["status"] == "closed"))
    assert closed["discussion"]["title"] == "Hooked?"
    pr = api.upload_file(path_or_fileobj=b"pr", path_in_repo="b.txt", repo_id=repo, create_pr=True)
    receiver.wait(event("repo.content", "update", repo,
                        updatedRefs=lambda refs: refs[0]["ref"] == f"refs/pr/{pr.pr_num}" and refs[0]["newSha"]))
    receiver.wait(event("discussion", "create", repo, discussion=lambda x: x["isPullRequest"]
                        and x["changes"]["base"] == "refs/heads/main"))
    log = httpx.get(f"{server.url}/api/settings/webhooks/{hook.id}/deliveries",
                    headers={"authorization": f"Bearer {server.user('hookdev')}"}).json()
    assert log and all(x["status"] in ("delivered", "pending") for x in log)
    done = [x for x in log if x["status"] == "delivered"]
    assert done and all(x["responseStatus"] == 200 and x["responseExcerpt"] == "ok" for x in done)
    api.delete_webhook(hook.id)


def test_domains_and_private_repos_filter_deliveries(server, receiver):
    owner = api_of(server, "hookowner")
    watcher = api_of(server, "hookwatcher")
    owner.create_repo("hookowner/hidden", private=True)
    owner.create_repo("hookowner/public")
    hook = watcher.create_webhook(url=receiver.url, watched=[{"type": "user", "name": "hookowner"}],
                                  domains=["discussion"], secret=SECRET)
    owner.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id="hookowner/hidden")
    owner.create_discussion("hookowner/hidden", title="secret talk")
    owner.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id="hookowner/public")
    owner.create_discussion("hookowner/public", title="open talk")
    receiver.wait(event("discussion", "create", "hookowner/public"))
    names = [(p["repo"]["name"], p["event"]["scope"]) for _, p in receiver.got if p["webhook"]["id"] == hook.id]
    assert names == [("hookowner/public", "discussion")]  # no repo events, nothing of the private repo
    watcher.delete_webhook(hook.id)


def test_repo_lifecycle_events(server, receiver):
    """A watched user's repos: created, settings changed, renamed, deleted."""
    api = api_of(server, "hooklife")
    hook = api.create_webhook(url=receiver.url, watched=[{"type": "user", "name": "hooklife"}], domains=["repo"],
                              secret=SECRET)
    api.create_repo("hooklife/born", repo_type="dataset")
    created = receiver.wait(event("repo", "create", "hooklife/born"))
    assert created["repo"]["type"] == "dataset" and created["repo"]["url"]["web"].endswith("/datasets/hooklife/born")
    api.update_repo_settings("hooklife/born", private=True, repo_type="dataset")
    config = receiver.wait(event("repo.config", "update", "hooklife/born"))
    assert config["updatedConfig"] == {"private": True} and config["repo"]["private"] is True
    api.move_repo("hooklife/born", "hooklife/grown", repo_type="dataset")
    moved = receiver.wait(event("repo", "move", "hooklife/grown"))
    assert moved["movedTo"]["name"] == "hooklife/grown"
    api.delete_repo("hooklife/grown", repo_type="dataset")
    receiver.wait(event("repo", "delete", "hooklife/grown"))
    api.delete_webhook(hook.id)


def signed_in(server, name: str, password: str) -> httpx.Client:
    web = httpx.Client(base_url=server.url)
    csrf = re.search(r'name="csrf" value="([^"]+)"', web.get("/login").text).group(1)
    web.post("/login", data={"csrf": csrf, "username": name, "password": password, "next": "/"})
    return web


def test_a_failed_delivery_is_retried(server, receiver):
    api = HfApi(endpoint=server.url, token=server.user("hookretry", password="hookretry-pass-1"))
    api.create_repo("hookretry/r")
    hook = api.create_webhook(url=receiver.url, watched=[{"type": "model", "name": "hookretry/r"}],
                              domains=["discussion"], secret=SECRET)
    with receiver.lock:
        receiver.fail = 1
    api.create_discussion("hookretry/r", title="again")
    receiver.wait(event("discussion", "create", "hookretry/r"))
    headers = {"authorization": f"Bearer {server.user('hookretry')}"}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        log = httpx.get(f"{server.url}/api/settings/webhooks/{hook.id}/deliveries", headers=headers).json()
        if log[0]["status"] == "delivered":
            break
        time.sleep(0.1)
    assert log[0]["status"] == "delivered" and log[0]["attempts"] == 2 and log[0]["responseStatus"] == 200
    # the owner's pages show the webhook and its log; another user's session gets 404 for it
    with closing(signed_in(server, "hookretry", "hookretry-pass-1")) as web:
        assert hook.id in web.get("/settings/webhooks").text
        page = web.get(f"/settings/webhooks/{hook.id}").text
        assert "discussion/create" in page and "delivered" in page and ">200<" in page
    server.user("hookweb", password="hookweb-pass-1")
    with closing(signed_in(server, "hookweb", "hookweb-pass-1")) as web:
        assert web.get(f"/settings/webhooks/{hook.id}").status_code == 404
    api.delete_webhook(hook.id)


def test_git_push_and_restart(server, tmp_path):
    api = api_of(server, "hookgit")
    token = server.user("hookgit")
    api.create_repo("hookgit/pushed")
    port = free_port()  # nothing listens there yet: the first attempt fails
    late = f"http://127.0.0.1:{port}/hook"
    hook = api.create_webhook(url=late, watched=[{"type": "model", "name": "hookgit/pushed"}], secret=SECRET,
                              domains=["repo"])
    work = tmp_path / "clone"
    remote = server.url.replace("http://", f"http://hookgit:{token}@") + "/hookgit/pushed"
    subprocess.run(["git", "clone", "-q", remote, str(work)], check=True, capture_output=True)
    (work / "pushed.txt").write_text("by git\n")
    git = ["git", "-C", str(work), "-c", "user.name=h", "-c", "user.email=h@x"]
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "push"], check=True)
    subprocess.run([*git, "push", "-q", "origin", "main", "HEAD:refs/heads/side"], check=True, capture_output=True)
    sha = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    headers = {"authorization": f"Bearer {token}"}
    url = f"/api/settings/webhooks/{hook.id}/deliveries"
    deadline = time.monotonic() + 10
    while not (log := httpx.get(server.url + url, headers=headers).json()) or log[0]["attempts"] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert log[0]["status"] == "pending" and log[0]["responseStatus"] == 0
    stop_server(server)  # the delivery waits in the database
    receiver = Receiver(port)
    again = start_server(server.data_dir, env=ENV)
    try:
        server.url, server.proc = again.url, again.proc  # the module's later users see the new one
        p = receiver.wait(event("repo.content", "update", "hookgit/pushed"))
        assert {r["ref"]: r["newSha"] for r in p["updatedRefs"]} == {"refs/heads/main": sha, "refs/heads/side": sha}
        assert all(r["oldSha"] is None for r in p["updatedRefs"] if r["ref"] == "refs/heads/side")
    finally:
        receiver.close()
