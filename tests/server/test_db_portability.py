"""The db layer's queries answer the same on SQLite and PostgreSQL, where the two engines' defaults differ:
integer widths, string lengths, the order of strings, LIKE and case folding."""

from __future__ import annotations

from datetime import datetime

from cove.server.db import LfsObject, Repo, open_database
from cove.server.db.audit import AuditQuery, add_event, find_events
from cove.server.db.buckets import Write, create_bucket, files_under, write_files
from cove.server.db.lfs import lfs_bytes_by_repo, record_lfs_object
from cove.server.db.repos import find_repo_any_case
from cove.server.db.xet import NewFile, record_files


def _repo(sessions, ns: str, name: str, **fields) -> Repo:
    with sessions.begin() as s:
        repo = Repo(type="model", namespace=ns, name=name, storage_key=f"{ns}-{name}", **fields)
        s.add(repo)
        s.flush()
        return repo


def test_sizes_past_4_gib(db_url):
    sessions = open_database(db_url)
    repo = _repo(sessions, "alice", "big")
    record_lfs_object(sessions, repo.id, "a" * 64, 5 * 2**30)
    record_lfs_object(sessions, repo.id, "b" * 64, 3 * 2**30)
    with sessions() as s:
        assert s.get(LfsObject, "a" * 64).size == 5 * 2**30
    assert lfs_bytes_by_repo(sessions, [repo.id]) == {repo.id: 8 * 2**30}


def test_card_text_longer_than_its_column_is_cut(db_url):
    sessions = open_database(db_url)
    repo = _repo(sessions, "alice", "card", pipeline_tag="t" * 200, library_name="l" * 65)
    with sessions() as s:
        row = s.get(Repo, repo.id)
        assert (row.pipeline_tag, row.library_name) == ("t" * 64, "l" * 64)


def test_repo_names_match_in_any_case(db_url):
    sessions = open_database(db_url)
    _repo(sessions, "Alice", "BERT-base")
    with sessions() as s:
        assert find_repo_any_case(s, "model", "alice", "bert-BASE").repo_id == "Alice/BERT-base"
        assert find_repo_any_case(s, "model", "alice", "bert_base") is None


def test_bucket_paths_are_ordered_by_bytes(db_url):
    """Listings resume after a path: the order must be the bytes' (a locale's collation would put
    "a-b" after "a/b", "B" after "a")."""
    sessions = open_database(db_url)
    bucket = create_bucket(sessions, "alice", "b", private=False, storage_key="bk")
    record_files(sessions, None, [NewFile("f" * 64, "c" * 64, 10, b"")])
    paths = ["B", "a", "a-b", "a.b", "a_b", "aB", "ab", "é", "z/Z", "z/a", "z/a-b", "z/a.b"]
    assert write_files(sessions, bucket.id, [Write(p, "f" * 64, 1) for p in paths], max_files=100) == []
    everything = [f.path for f in files_under(sessions, bucket.id, "")]
    assert everything == sorted(paths, key=str.encode)
    assert [f.path for f in files_under(sessions, bucket.id, "", start="a-b")] == everything[3:]
    assert [f.path for f in files_under(sessions, bucket.id, "z")] == ["z/Z", "z/a", "z/a-b", "z/a.b"]


def test_audit_prefix_queries_take_wildcards_literally(db_url):
    sessions = open_database(db_url)
    at = datetime(2026, 12, 1)
    for action in ("repo.move", "repo_move", "repox", "REPO.delete", "user.login"):
        add_event(sessions, at=at, action=action, actor="ada", ip="", target="t", detail={})
    found = [e.action for e in find_events(sessions, AuditQuery(action="repo.*"), limit=10, newest_first=False)]
    assert found == ["repo.move"]
    assert [e.action for e in find_events(sessions, AuditQuery(action="repo_*"), limit=10)] == ["repo_move"]
