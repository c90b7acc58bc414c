"""The like button on a repo's card and the collection pages, against a real ``cove serve`` over HTTP:
a signed-in browser session likes and unlikes (seen by huggingface_hub), forms without the session's
CSRF token are refused, anonymous callers are sent to sign in, private repos and collections stay
missing to outsiders, and hostile titles and notes are shown inert."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import RepositoryNotFoundError
from markupsafe import escape

PASSWORD = "lk-web-pass-1"


def uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def sign_in(url: str, name: str) -> httpx.Client:
    c = httpx.Client(base_url=url, follow_redirects=False, timeout=30)
    csrf = csrf_of(c.get("/login").text)
    r = c.post("/login", data={"csrf": csrf, "username": name, "password": PASSWORD, "next": "/"})
    assert r.status_code == 303, r.text
    return c


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def liked_by(api: HfApi, user: str, repo_type: str) -> list[str]:
    return getattr(api.list_liked_repos(user), f"{repo_type}s")


@pytest.fixture(scope="module")
def owner(hub) -> HfApi:
    return HfApi(endpoint=hub.url, token=hub.user("lkowner", password=PASSWORD))


@pytest.fixture(scope="module")
def fan(hub) -> HfApi:
    return HfApi(endpoint=hub.url, token=hub.user("lkfan", password=PASSWORD))


@pytest.mark.parametrize("repo_type", ["model", "dataset"])
def test_like_button_toggles(hub, owner, fan, repo_type):
    repo_id = f"lkowner/{uniq('liked')}"
    owner.create_repo(repo_id, repo_type=repo_type)
    href = f"/{'datasets/' if repo_type == 'dataset' else ''}{repo_id}"
    c = sign_in(hub.url, "lkfan")
    page = c.get(href).text
    assert ">Like</button>" in page and '<span class="like-count">0 likes</span>' in page
    csrf = csrf_of(page)

    assert c.post(f"{href}/like", data={"liked": "1"}).status_code == 403  # no CSRF token
    assert c.post(f"{href}/like", data={"liked": "1", "csrf": "forged"}).status_code == 403
    assert c.post(f"{href}/like", data={"liked": "maybe", "csrf": csrf}).status_code == 400
    info = owner.repo_info(repo_id, repo_type=repo_type)
    assert info.likes == 0

    r = c.post(f"{href}/like", data={"liked": "1", "csrf": csrf})
    assert r.status_code == 303 and r.headers["location"] == href
    assert owner.repo_info(repo_id, repo_type=repo_type).likes == 1
    assert repo_id in liked_by(owner, "lkfan", repo_type)
    assert [(u.username, u.is_pro) for u in owner.list_repo_likers(repo_id, repo_type=repo_type)] == [("lkfan", False)]
    page = c.get(href).text
    assert ">Unlike</button>" in page and '<span class="like-count">1 likes</span>' in page
    assert c.post(f"{href}/like", data={"liked": "1", "csrf": csrf}).status_code == 303  # liking twice: one like
    assert owner.repo_info(repo_id, repo_type=repo_type).likes == 1

    assert c.post(f"{href}/like", data={"liked": "0", "csrf": csrf}).status_code == 303
    assert owner.repo_info(repo_id, repo_type=repo_type).likes == 0
    assert repo_id not in liked_by(owner, "lkfan", repo_type)
    assert list(owner.list_repo_likers(repo_id, repo_type=repo_type)) == []
    assert ">Like</button>" in c.get(href).text


def test_like_anonymous_and_private(hub, owner, fan):
    repo_id = f"lkowner/{uniq('hidden')}"
    owner.create_repo(repo_id, private=True)
    public_id = f"lkowner/{uniq('open')}"
    owner.create_repo(public_id)

    anon = httpx.Client(base_url=hub.url, follow_redirects=False, timeout=30)
    page = anon.get(f"/{public_id}").text
    assert "0 likes" in page and "like-form" not in page and "/login?next=" in page
    r = anon.post(f"/{public_id}/like", data={"liked": "1"})
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert owner.model_info(public_id).likes == 0

    c = sign_in(hub.url, "lkfan")
    csrf = csrf_of(c.get(f"/{public_id}").text)
    assert c.get(f"/{repo_id}").status_code == 404
    assert c.post(f"/{repo_id}/like", data={"liked": "1", "csrf": csrf}).status_code == 404
    assert owner.model_info(repo_id).likes == 0

    mine = sign_in(hub.url, "lkowner")
    page = mine.get(f"/{repo_id}").text
    assert mine.post(f"/{repo_id}/like", data={"liked": "1", "csrf": csrf_of(page)}).status_code == 303
    assert owner.model_info(repo_id).likes == 1
    assert [u.username for u in owner.list_repo_likers(repo_id)] == ["lkowner"]
    for outsider in (fan, HfApi(endpoint=hub.url, token=False)):  # the likers of a private repo: 404
        with pytest.raises(RepositoryNotFoundError):
            list(outsider.list_repo_likers(repo_id))


def test_collection_pages(hub, owner, fan):
    hostile = '<script>alert("x")</script>'
    first, second = f"lkowner/{uniq('first')}", f"lkowner/{uniq('second')}"
    owner.create_repo(first)
    owner.create_repo(second, repo_type="dataset")
    coll = owner.create_collection(f"Picks {hostile}", namespace="lkowner", description=f"About {hostile}")
    owner.add_collection_item(coll.slug, second, "dataset", note=f"Second <b>{hostile}</b>")
    owner.add_collection_item(coll.slug, first, "model", note="The first note")
    secret = owner.create_collection(f"Secret {uniq('s')}", namespace="lkowner", private=True)
    owner.add_collection_item(secret.slug, first, "model")

    page = httpx.get(f"{hub.url}/collections/{coll.slug}")
    assert page.status_code == 200
    text = page.text
    assert "<script>alert" not in text and "<b>" not in text
    assert str(escape(f"Picks {hostile}")) in text
    assert str(escape(f"About {hostile}")) in text
    assert str(escape(f"Second <b>{hostile}</b>")) in text
    ds_link = text.index(f'href="/datasets/{second}"')
    model_link = text.index(f'href="/{first}"')
    assert ds_link < text.index("Second &lt;b&gt;") < model_link < text.index("The first note")

    listing = httpx.get(f"{hub.url}/collections/lkowner").text
    assert f'href="/collections/{coll.slug}"' in listing and "<script>alert" not in listing
    assert secret.slug not in listing
    assert 'href="/collections/lkowner"' in httpx.get(f"{hub.url}/lkowner").text

    outsider = sign_in(hub.url, "lkfan")
    assert outsider.get(f"/collections/{secret.slug}").status_code == 404
    assert httpx.get(f"{hub.url}/collections/{secret.slug}").status_code == 404
    assert secret.slug not in outsider.get("/collections/lkowner").text
    mine = sign_in(hub.url, "lkowner")
    assert secret.slug in mine.get("/collections/lkowner").text
    own = mine.get(f"/collections/{secret.slug}")
    assert own.status_code == 200 and f'href="/{first}"' in own.text

    assert httpx.get(f"{hub.url}/collections/lk-nobody-{uuid.uuid4().hex[:6]}").status_code == 404
    assert httpx.get(f"{hub.url}/collections/lkowner/none-{'0' * 24}").status_code == 404
    assert httpx.get(f"{hub.url}/collections/lkowner/offset").status_code == 404
    assert httpx.get(f"{hub.url}/collections/lkowner?offset=x").status_code == 400


def test_collections_is_a_reserved_name(hub, owner):
    r = httpx.post(f"{hub.url}/api/organizations/new", json={"name": "collections"},
                   headers={"authorization": f"Bearer {owner.token}"})
    assert r.status_code == 400 and "reserved" in r.text
