"""Commit cost by file count: one ``HfApi.create_commit`` of N small files against `cove serve`.

A commit of N files should cost about N times a commit of one file (issue 15: 16,000 files took 86 s,
quadratic, with the repo lock held). Each size is committed twice: to a fresh repo, then the same
paths with new content on top (a commit into a tree that already holds N files).

    .venv/bin/python bench/hub_commit.py [--files 2000 16000] [--flat]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from huggingface_hub import CommitOperationAdd, HfApi

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import start_server, stop_server  # noqa: E402


def commit(api: HfApi, repo: str, n: int, tag: str, flat: bool) -> float:
    ops = [CommitOperationAdd(path_in_repo=f"f{i}.txt" if flat else f"d{i % 50}/f{i}.txt",
                              path_or_fileobj=f"{tag} {i}\n".encode())
           for i in range(n)]
    t = time.perf_counter()
    api.create_commit(repo, ops, commit_message=f"{n} files ({tag})")
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, nargs="+", default=[2000, 16000])
    parser.add_argument("--flat", action="store_true", help="every file in the root folder (else 50 folders)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp) / "data")
        try:
            api = HfApi(endpoint=server.url, token=server.user("bench"))
            for n in args.files:
                repo = f"bench/commit-{n}"
                api.create_repo(repo)
                first = commit(api, repo, n, "new", args.flat)
                again = commit(api, repo, n, "changed", args.flat)
                print(f"{n:>6} files: {first:6.1f} s into an empty repo, {again:6.1f} s replacing them "
                      f"({first / n * 1e3:.2f} / {again / n * 1e3:.2f} ms a file)", flush=True)
        finally:
            stop_server(server)


if __name__ == "__main__":
    main()
