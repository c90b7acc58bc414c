from huggingface_hub import HfApi, hf_hub_download


def test_smoke(hub, alice, hf_home):
    api = HfApi(endpoint=hub.url, token=alice)
    assert api.whoami()["name"] == "alice"
    url = api.create_repo("alice/smoke")
    assert str(url) == f"{hub.url}/alice/smoke"
    api.upload_file(path_or_fileobj=b"hello", path_in_repo="a.txt", repo_id="alice/smoke")
    p = hf_hub_download("alice/smoke", "a.txt", endpoint=hub.url, token=alice, cache_dir=hf_home / "hub")
    assert open(p, "rb").read() == b"hello"
