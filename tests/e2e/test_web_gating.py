"""Access requests from the web UI: a signed-in reader of a gated repo asks on its card page (answering
the card's ``extra_gated_fields``), its admins accept or reject on the repo's settings page; CSRF and
who may do what as on every form. The stock client sees the same requests."""

from __future__ import annotations

import httpx
import pytest
from huggingface_hub import CommitOperationAdd, HfApi

from tests.e2e.test_audit import page_csrf, sign_in, uniq, web_client

CARD = b"""---
extra_gated_fields:
  Company: text
  I agree to the terms: checkbox
---
# Gated by a form
"""


@pytest.fixture(scope="module")
def people(hub):
    tokens = {name: hub.user(name, password=f"{name}-pass-123") for name in ("gwowner", "gwasker", "gwother")}
    return tokens


def browser(hub, name: str) -> httpx.Client:
    c = web_client(hub)
    assert sign_in(c, name, f"{name}-pass-123").status_code == 303
    return c


def gated(hub, people, mode: str) -> str:
    api = HfApi(endpoint=hub.url, token=people["gwowner"])
    repo = api.create_repo(uniq("gwowner/gate")).repo_id
    api.create_commit(repo, [CommitOperationAdd("README.md", CARD), CommitOperationAdd("w.bin", b"\x01" * 64)],
                      commit_message="card")
    api.update_repo_settings(repo, gated=mode)
    return repo


def test_ask_then_accept_from_the_web(hub, people):
    repo = gated(hub, people, "manual")
    owner_api = HfApi(endpoint=hub.url, token=people["gwowner"])
    asker = browser(hub, "gwasker")
    page = asker.get(f"/{repo}").text
    assert "Request access" in page and 'name="field:Company"' in page and "I agree to the terms" in page
    csrf = page_csrf(asker)
    form = {"csrf": csrf, "field:Company": "Acme <b>Inc</b>", "field:I agree to the terms": "yes"}
    assert asker.post(f"/{repo}/ask-access", data={**form, "csrf": "forged"}).status_code == 403
    assert asker.post(f"/{repo}/ask-access", data={"csrf": csrf}).status_code == 400  # the answers are asked
    assert asker.post(f"/{repo}/ask-access", data=form).status_code == 303
    assert "is pending" in asker.get(f"/{repo}").text
    assert asker.post(f"/{repo}/ask-access", data=form).status_code == 409
    pending = list(owner_api.list_pending_access_requests(repo))
    assert [(r.username, r.fields) for r in pending] == [("gwasker", {"Company": "Acme <b>Inc</b>",
                                                                      "I agree to the terms": "yes"})]
    asker_files = httpx.get(f"{hub.url}/{repo}/resolve/main/w.bin",
                            headers={"authorization": f"Bearer {people['gwasker']}"})
    assert asker_files.status_code == 403
    owner = browser(hub, "gwowner")
    settings = owner.get(f"/{repo}/settings").text
    assert "Pending (1)" in settings and "Acme &lt;b&gt;Inc&lt;/b&gt;" in settings  # escaped
    oid = pending[0].request_id
    assert f'name="request" value="{oid}"' in settings
    ocsrf = page_csrf(owner)
    # someone else's session may not handle it; a forged token neither
    other = browser(hub, "gwother")
    assert other.post(f"/{repo}/settings/access", data={"csrf": page_csrf(other), "request": oid,
                                                        "status": "accepted"}).status_code in (403, 404)
    assert owner.post(f"/{repo}/settings/access", data={"csrf": "x", "request": oid,
                                                        "status": "accepted"}).status_code == 403
    assert owner.post(f"/{repo}/settings/access", data={"csrf": ocsrf, "request": oid,
                                                        "status": "accepted"}).status_code == 303
    assert [r.username for r in owner_api.list_accepted_access_requests(repo)] == ["gwasker"]
    assert httpx.get(f"{hub.url}/{repo}/resolve/main/w.bin",
                     headers={"authorization": f"Bearer {people['gwasker']}"}).status_code == 200
    assert "You have access" in asker.get(f"/{repo}").text


def test_rejected_users_cannot_ask_again_and_auto_accepts(hub, people):
    repo = gated(hub, people, "manual")
    other = browser(hub, "gwother")
    form = {"csrf": page_csrf(other), "field:Company": "X", "field:I agree to the terms": "yes"}
    assert other.post(f"/{repo}/ask-access", data=form).status_code == 303
    owner = browser(hub, "gwowner")
    settings = owner.get(f"/{repo}/settings").text
    oid = settings.split('name="request" value="', 1)[1].split('"', 1)[0]
    assert owner.post(f"/{repo}/settings/access", data={"csrf": page_csrf(owner), "request": oid,
                                                        "status": "rejected"}).status_code == 303
    assert "was rejected" in other.get(f"/{repo}").text
    assert "Rejected (1)" in owner.get(f"/{repo}/settings").text
    HfApi(endpoint=hub.url, token=people["gwowner"]).update_repo_settings(repo, gated="manual")
    assert other.post(f"/{repo}/ask-access", data=form).status_code == 403
    auto = gated(hub, people, "auto")
    assert other.post(f"/{auto}/ask-access", data=form).status_code == 303
    assert httpx.get(f"{hub.url}/{auto}/resolve/main/w.bin",
                     headers={"authorization": f"Bearer {people['gwother']}"}).status_code == 200
    # anonymous visitors are asked to sign in; a repo that is not gated takes no requests
    anon = web_client(hub).get(f"/{repo}").text
    assert "sign in</a> to ask" in anon
    plain = HfApi(endpoint=hub.url, token=people["gwowner"]).create_repo(uniq("gwowner/open")).repo_id
    assert other.post(f"/{plain}/ask-access", data=form).status_code == 400
