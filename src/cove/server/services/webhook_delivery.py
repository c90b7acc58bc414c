"""The webhook delivery worker: sends queued deliveries off the request path, retries with backoff.

One thread per server process (started and stopped with the app). It loops: take the due deliveries,
*claim* each (a conditional ``UPDATE`` in the database, so with several replicas or ``--workers`` each
delivery goes out once), ``POST`` it, record the outcome. A claim lasts a little longer than one send may
take; a process killed mid-send leaves one that runs out, and the delivery is sent again then (at least
once, as webhooks are). Deliveries live in the database, so a restart loses none.

A request carries ``Content-Type: application/json``, ``X-Webhook-Secret`` (the webhook's secret, as the
Hub sends it), ``X-Webhook-Signature: sha256=<HMAC-SHA256 of the body with the secret>`` for receivers
that prefer not to compare the secret itself, ``X-Webhook-Event`` and ``X-Webhook-Delivery`` (its id: a
receiver may see a delivery twice). Any 2xx counts as delivered; anything else, or no answer within
``webhook_timeout_seconds``, is retried ``webhook_retry_seconds`` × 4^(n-1) later (capped at an hour)
until ``webhook_attempts`` were made. Redirects are not followed. The target is checked again before
each send (:mod:`cove.server.services.webhook_targets`).

Events that happen under a lock or inside a transaction (a ref moved by a commit) are handed to this
thread in memory (:meth:`later`) and queued from here: a process that dies in between loses those,
and a ``cove`` command (which runs no worker) announces none of the refs it moves.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import httpx
from sqlalchemy.orm import sessionmaker

from cove.errors import BadRequest
from cove.server.db import utcnow
from cove.server.db import webhooks as q
from cove.server.services.webhooks import Webhooks
from cove.server.settings import Settings

log = logging.getLogger("cove.server.webhooks")

#: Seconds the worker sleeps when nothing is due (a new delivery in this process wakes it at once).
IDLE = 1.0
#: Most deliveries taken per round.
BATCH = 20
#: Characters of the answer (or the error) kept in the delivery log.
EXCERPT = 1000
MAX_BACKOFF = 3600
#: Events held in memory for the worker at most (a process without one, a ``cove`` command, drops past it).
OUTBOX = 10_000


class Deliverer:
    def __init__(self, sessions: sessionmaker, webhooks: Webhooks, settings: Settings) -> None:
        self._sessions = sessions
        self._webhooks = webhooks
        self.retry_seconds = settings.webhook_retry_seconds
        self.attempts = settings.webhook_attempts
        self.timeout = settings.webhook_timeout_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._outbox: queue.Queue = queue.Queue(maxsize=OUTBOX)
        self._thread: threading.Thread | None = None
        self._client: httpx.Client | None = None  # one for the worker: a new one costs ~70 ms (TLS setup)
        webhooks.queued = self._wake.set

    # -- the thread ------------------------------------------------------------------------------

    def later(self, fn: Callable[..., object], *args: object) -> None:
        """Run ``fn(*args)`` on the worker thread (for events raised where the caller must not wait)."""
        try:
            self._outbox.put_nowait((fn, args))
        except queue.Full:
            log.warning("webhook events dropped: %d wait for the delivery worker already", OUTBOX)
        self._wake.set()

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="cove-webhooks", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(self.timeout + 5)
            self._thread = None

    def _run(self) -> None:
        try:
            self._loop()
        finally:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            self.drain()
            try:
                sent = self.deliver_due()
            except Exception:  # a database hiccup must not end the worker
                log.exception("webhook deliveries failed")
                sent = 0
            if not sent:
                self._wake.wait(IDLE)

    def drain(self) -> None:
        while True:
            try:
                fn, args = self._outbox.get_nowait()
            except queue.Empty:
                return
            try:
                fn(*args)
            except Exception:
                log.exception("queuing a webhook event failed")

    # -- sending ---------------------------------------------------------------------------------

    def deliver_due(self) -> int:
        """Send what is due now; returns how many were sent (delivered or not)."""
        with self._sessions() as s:
            ids = q.due(s, utcnow(), BATCH)
        sent = 0
        for delivery_id in ids:
            if self._stop.is_set():
                break
            with self._sessions.begin() as s:
                if not q.claim(s, delivery_id, utcnow(), timedelta(seconds=self.timeout + 30)):
                    continue  # another replica took it
            self.deliver(delivery_id)
            sent += 1
        return sent

    def deliver(self, delivery_id: int) -> None:
        with self._sessions() as s:
            found = q.delivery(s, delivery_id)
        if found is None:
            return
        row, hook = found
        body = json.dumps(row.payload, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "cove-webhooks/1",
                   "X-Webhook-Event": row.event, "X-Webhook-Delivery": row.oid}
        if hook.secret:
            headers["X-Webhook-Secret"] = hook.secret
            digest = hmac.new(hook.secret.encode(), body, hashlib.sha256).hexdigest()
            headers["X-Webhook-Signature"] = f"sha256={digest}"
        started = time.monotonic()
        status, excerpt = self._post(hook.url, body, headers) if not hook.disabled else (0, "webhook disabled")
        latency = int((time.monotonic() - started) * 1000)
        attempts = row.attempts + 1
        now = utcnow()
        fields: dict = {"attempts": attempts, "response_status": status, "latency_ms": latency,
                        "response_excerpt": excerpt[:EXCERPT]}
        if 200 <= status < 300:
            fields.update(status="delivered", finished_at=now)
        elif attempts >= self.attempts or hook.disabled:
            fields.update(status="failed", finished_at=now)
        else:
            wait = min(self.retry_seconds * 4 ** (attempts - 1), MAX_BACKOFF)
            fields.update(next_at=now + timedelta(seconds=wait))
        with self._sessions.begin() as s:
            q.record(s, delivery_id, **fields)
        log.info("webhook %s delivery %s: %s in %d ms (attempt %d)", hook.oid, row.oid, status or excerpt,
                 latency, attempts)

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        """``(HTTP status, start of the answer)``; status 0 with the reason when there was no answer."""
        try:
            target = self._webhooks.target(url)
        except BadRequest as err:
            return 0, f"refused: {err}"
        extensions = {"sni_hostname": target.sni} if target.sni else {}
        if self._client is None:
            self._client = httpx.Client(timeout=self.timeout, follow_redirects=False, trust_env=False)
        try:
            with self._client.stream("POST", target.connect_url, content=body, extensions=extensions,
                                     headers={**headers, "Host": target.host_header}) as response:
                text = b""
                for chunk in response.iter_bytes():
                    text += chunk
                    if len(text) >= EXCERPT:
                        break
                return response.status_code, text[:EXCERPT].decode("utf-8", "replace")
        except httpx.HTTPError as err:
            return 0, f"{type(err).__name__}: {err}"
