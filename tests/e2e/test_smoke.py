from huggingface_hub import HfApi, hf_hub_download


def test_smoke(hub, alice, hf_home):
    api = HfApi(endpoint=hub.url, token=alice)
    assert api.whoami()["name"] == "alice"
    url = api.create_repo("alice/smoke")
    assert str(url) == f"{hub.url}/alice/smoke"
    api.upload_file(path_or_fileobj=b"hello", path_in_repo="a.txt", repo_id="alice/smoke")
    p = hf_hub_download("alice/smoke", "a.txt", endpoint=hub.url, token=alice, cache_dir=hf_home / "hub")
    assert open(p, "rb").read() == b"hello"


def test_several_workers_share_one_data_dir(tmp_path, hf_home):
    import threading

    from huggingface_hub import CommitOperationAdd

    from tests.conftest import start_server, stop_server

    server = start_server(tmp_path / "data", env={"COVE_WORKERS": "2"})
    try:
        token = server.user("wendy")
        api = HfApi(endpoint=server.url, token=token)
        api.create_repo("wendy/multi")

        def commit(i):
            HfApi(endpoint=server.url, token=token).create_commit(
                "wendy/multi", operations=[CommitOperationAdd(f"{i}.txt", str(i).encode())], commit_message=str(i))

        threads = [threading.Thread(target=commit, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(api.list_repo_files("wendy/multi")) == sorted([".gitattributes"] + [f"{i}.txt" for i in range(8)])
        path = hf_hub_download("wendy/multi", "3.txt", endpoint=server.url, token=token, cache_dir=hf_home / "hub")
        assert open(path).read() == "3"
    finally:
        stop_server(server)
