"""Which paths the ``.gitattributes`` of a repo sends to LFS: exact lines (one per LFS file Cove added) are
set lookups, globs are regexes, and together they decide as matching every line one by one did."""

from __future__ import annotations

import pytest

from cove.server.services.commits import _pattern_regex, lfs_patterns
from cove.server.storage.git import DEFAULT_GITATTRIBUTES

ATTRIBUTES = DEFAULT_GITATTRIBUTES + "".join(f"{p} filter=lfs diff=lfs merge=lfs -text\n" for p in (
    "my[[:space:]]file.dat", "sub/exact.dat", "/rooted.dat", "name-only.dat", "folder/", "data/**/*.csv",
    "[ab]?.raw",
)) + "# comment.dat filter=lfs\nplain.txt text\n"
PATHS = ["a.bin", "x/y.safetensors", "my file.dat", "d/my file.dat", "sub/exact.dat", "z/sub/exact.dat",
         "rooted.dat", "a/rooted.dat", "name-only.dat", "deep/er/name-only.dat", "folder", "folder/x",
         "data/a/b/c.csv", "data/c.csv", "other/data/c.csv", "a1.raw", "c1.raw", "saved_model/a/b", "README.md",
         "a.tar.gz", "comment.dat", "plain.txt", "x.tar", "tfevents.1"]


@pytest.mark.parametrize("path", PATHS)
def test_set_lookups_decide_as_the_lines_do(path):
    lines = [line.split()[0].replace("[[:space:]]", " ") for line in ATTRIBUTES.splitlines()
             if line.split() and not line.startswith("#") and "filter=lfs" in line.split()[1:]]
    assert lfs_patterns(ATTRIBUTES).matches(path) == any(_pattern_regex(p).match(path) for p in lines)


def test_many_exact_lines_are_not_matched_one_by_one():
    patterns = lfs_patterns("".join(f"f{i}.bin filter=lfs\n" for i in range(50_000)))
    assert patterns.globs == [] and len(patterns.names) == 50_000
    assert patterns.matches("deep/f49999.bin") and not patterns.matches("f50000.bin")
