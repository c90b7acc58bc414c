"""Webhook parts without a server: which targets are refused (services/webhook_targets.py), and two
Hubs on one database (two replicas) delivering one queue, each delivery once (services/webhook_delivery.py)."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cove.errors import BadRequest
from cove.server.services import Hub
from cove.server.services.webhook_targets import Allow, check
from cove.server.settings import Settings

NONE = Allow.parse("")


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/x", "http://127.1.2.3:8080/", "http://10.0.0.1/", "http://192.168.1.1/", "http://169.254.169.254/",
    "http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://[fe80::1]/", "http://0.0.0.0/", "http://localhost:9/",
    "http://100.64.0.1/", "file:///etc/passwd", "gopher://1.1.1.1/", "http://u:p@1.1.1.1/", "http:///x", "",
    "http://1.1.1.1:99999/",
])
def test_refused_without_an_allow_list(url):
    with pytest.raises(BadRequest):
        check(url, NONE, 8000, ())


def test_public_addresses_pass_and_connect_to_what_was_checked():
    target = check("https://1.1.1.1/hook?a=1", NONE, 8000, ())
    assert (target.connect_url, target.host_header, target.sni) == ("https://1.1.1.1:443/hook?a=1", "1.1.1.1", "1.1.1.1")
    target = check("http://[2606:4700:4700::1111]:8080/h", NONE, 8000, ())
    assert target.connect_url == "http://[2606:4700:4700::1111]:8080/h" and target.sni is None


def test_the_allow_list():
    allow = Allow.parse("127.0.0.1, 10.0.0.0/8,internal.example")
    assert check("http://127.0.0.1:9/x", allow, 8000, ()).connect_url == "http://127.0.0.1:9/x"
    assert check("http://10.9.8.7/", allow, 8000, ())
    with pytest.raises(BadRequest):
        check("http://127.0.0.2/", allow, 8000, ())
    with pytest.raises(BadRequest, match="itself"):  # the Hub's own port on a local address, whatever the list
        check("http://127.0.0.1:8000/api", allow, 8000, ())
    with pytest.raises(BadRequest, match="itself"):
        check("https://hub.example/x", Allow.parse("*"), 8000, ("https://hub.example:443",))
    assert Allow.parse("*").permits("x", __import__("ipaddress").ip_address("192.168.0.1"))
    with pytest.raises(ValueError):
        Allow.parse("not a host!")


class Receiver:
    def __init__(self) -> None:
        self.got: Counter = Counter()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.got[(self.headers["X-Webhook-Event"], self.headers["X-Webhook-Delivery"])] += 1
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_two_replicas_deliver_each_once(tmp_path, db_url):
    settings = Settings(data_dir=tmp_path / "data", database_url=db_url, webhook_allow="127.0.0.1", port=1)
    one, two = Hub(settings), Hub(settings)
    receiver = Receiver()
    try:
        one.accounts.create_user("hooker")
        who = one.accounts.authenticate_token(one.accounts.create_token("hooker"))
        repo, _ = one.repos.create(who, "model", "hooker", "r")
        one.webhooks.create(who, url=receiver.url, watched=[{"type": "user", "name": "hooker"}], domains=["repo"])
        for i in range(40):
            assert one.webhooks.emit(repo, "repo.config", "update", {"updatedConfig": {"n": i}}) == 1
        one.deliverer.start()
        two.deliverer.start()
        deadline = time.monotonic() + 60
        # 40 events; not the repo's first commit: its ref moved when the repo was made, before the webhook
        # existed (queued in memory with its time by the Hub that made it, and dropped for this hook)
        while sum(receiver.got.values()) < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # a second copy would have come by now
    finally:
        one.deliverer.stop()
        two.deliverer.stop()
        receiver.server.shutdown()
    assert set(receiver.got.values()) == {1}
    assert Counter(event for event, _ in receiver.got) == {"repo.config/update": 40}
    log = one.webhooks.deliveries(who, one.webhooks.list(who)[0].hook.oid)
    assert len(log) == 40 and {d.status for d in log} == {"delivered"} and {d.response_status for d in log} == {204}
