"""Collections through the stock huggingface_hub client: create, read, change and delete them and their
items; a private collection is missing to others, others cannot change a public one, and an item whose
repo the caller may not see is neither shown to them nor addable by them."""

from __future__ import annotations

import uuid

import httpx
import pytest
from huggingface_hub import Collection, HfApi
from huggingface_hub.errors import HfHubHTTPError


def uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def status_of(call) -> int:
    with pytest.raises(HfHubHTTPError) as e:
        call()
    return e.value.response.status_code


def test_collection_lifecycle(api, hub):
    title = f"My cool stuff {uuid.uuid4()}"
    collection = api.create_collection(title, description="Contains a lot of cool stuff")
    assert isinstance(collection, Collection)
    assert (collection.title, collection.description, collection.items) == (title, "Contains a lot of cool stuff", [])
    assert collection.slug.startswith(f"alice/{title.lower().replace(' ', '-')}-")
    assert collection.url == f"{hub.url}/collections/{collection.slug}"

    renamed = api.update_collection_metadata(collection.slug, title="New title", description="New description",
                                             private=True, theme="pink")
    assert (renamed.title, renamed.description, renamed.private, renamed.theme) == (
        "New title", "New description", True, "pink")
    assert renamed.slug.split("-")[-1] == collection.slug.split("-")[-1] != ""
    assert renamed.slug.startswith("alice/new-title-")
    assert api.get_collection(collection.slug).slug == renamed.slug  # the old slug still finds it

    api.delete_collection(renamed.slug)
    assert status_of(lambda: api.delete_collection(renamed.slug)) == 404
    api.delete_collection(renamed.slug, missing_ok=True)
    r = httpx.get(f"{hub.url}/api/collections/{renamed.slug}")
    assert r.status_code == 404 and r.headers["x-error-code"] == "NotFound"  # not a repo's code


def test_collection_items(api):
    model = api.create_repo(uniq("alice/model")).repo_id
    dataset = api.create_repo(uniq("alice/data"), repo_type="dataset").repo_id
    nested = api.create_collection(uniq("nested")).slug
    slug = api.create_collection(uniq("items")).slug
    api.add_collection_item(slug, model, "model", note="This is my model")
    api.add_collection_item(slug, dataset, "dataset")
    api.add_collection_item(slug, nested, "collection")
    items = api.get_collection(slug).items
    assert [(i.item_id, i.item_type, i.note) for i in items] == [
        (model, "model", "This is my model"), (dataset, "dataset", None), (nested, "collection", None)]
    assert status_of(lambda: api.add_collection_item(slug, model, "model")) == 409
    api.add_collection_item(slug, model, "model", exists_ok=True)
    assert status_of(lambda: api.add_collection_item(slug, model, "dataset")) == 404  # no such dataset

    api.update_collection_item(slug, items[0].item_object_id, note="New note", position=1)
    items = api.get_collection(slug).items
    assert [(i.item_id, i.note, i.position) for i in items] == [
        (dataset, None, 0), (model, "New note", 1), (nested, None, 2)]
    api.delete_collection_item(slug, items[1].item_object_id)
    api.delete_collection_item(slug, items[1].item_object_id, missing_ok=True)
    assert [i.item_id for i in api.get_collection(slug).items] == [dataset, nested]

    api.delete_repo(dataset, repo_type="dataset")  # a deleted repo leaves its collections
    assert [i.item_id for i in api.get_collection(slug).items] == [nested]
    assert [c.slug for c in api.list_collections(owner="alice", item=f"models/{model}")] == []
    api.add_collection_item(slug, model, "model")
    assert slug in [c.slug for c in api.list_collections(owner="alice", item=f"models/{model}")]


def test_private_collections_are_missing_to_others(api, other, hub):
    slug = api.create_collection(uniq("secret"), private=True).slug
    api.get_collection(slug)
    assert status_of(lambda: other.get_collection(slug)) == 404
    missing = httpx.get(f"{hub.url}/api/collections/alice/secret-{'0' * 24}")
    hidden = httpx.get(f"{hub.url}/api/collections/{slug}")
    assert (hidden.status_code, hidden.headers["x-error-code"]) == (missing.status_code, missing.headers["x-error-code"])
    for call in (lambda: other.update_collection_metadata(slug, title="mine"), lambda: other.delete_collection(slug),
                 lambda: other.add_collection_item(slug, "alice/x", "model")):
        assert status_of(call) == 404
    assert slug not in [c.slug for c in other.list_collections(owner="alice")]
    assert slug in [c.slug for c in api.list_collections(owner="alice")]

    api.update_collection_metadata(slug, private=False)
    assert other.get_collection(slug).slug == slug
    assert httpx.get(f"{hub.url}/api/collections/{slug}").status_code == 200
    # a public collection: others read it and may not change it
    for call in (lambda: other.update_collection_metadata(slug, title="mine"), lambda: other.delete_collection(slug)):
        assert status_of(call) == 403
    assert status_of(lambda: HfApi(endpoint=hub.url, token=False).delete_collection(slug)) == 401
    assert status_of(lambda: other.create_collection("in alice's name", namespace="alice")) == 403


def test_items_follow_repo_visibility(api, other, hub):
    private = api.create_repo(uniq("alice/private"), private=True).repo_id
    public = api.create_repo(uniq("alice/public")).repo_id
    slug = api.create_collection(uniq("mixed")).slug
    api.add_collection_item(slug, private, "model")
    api.add_collection_item(slug, public, "model")
    assert [i.item_id for i in api.get_collection(slug).items] == [private, public]
    assert [i.item_id for i in other.get_collection(slug).items] == [public]
    assert private not in httpx.get(f"{hub.url}/api/collections", params={"owner": "alice"}).text
    # bob cannot add alice's private repo to his own collection: it is missing to him
    mine = other.create_collection(uniq("bobs")).slug
    assert status_of(lambda: other.add_collection_item(mine, private, "model")) == 404
    assert status_of(lambda: list(other.list_collections(item=f"models/{private}"))) == 404
    secret = api.create_collection(uniq("secret"), private=True).slug
    assert status_of(lambda: other.add_collection_item(mine, secret, "collection")) == 404
