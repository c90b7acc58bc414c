"""git's own answers are the reference: every pattern of a table against every path of a table, as
``git check-attr`` and ``git check-ignore`` answer them, compared with :mod:`cove.server.services.gitmatch`
and with the LFS decision of :mod:`cove.server.services.commits`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from cove.server.services.commits import lfs_patterns
from cove.server.services.gitmatch import UNSET, UNSPECIFIED, GitAttributes, GitIgnore
from cove.server.storage.git import DEFAULT_GITATTRIBUTES

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")

PATTERNS = [
    "*.bin", "saved_model/**/*", "a/**/b", "**/foo", "foo/**", "**", "*", "a*b", "a**b", "**a", "a/**",
    "/rooted.dat", "sub/exact.dat", "name-only.dat", "folder/", "data/**/*.csv", "[ab]?.raw", "[!ab].raw",
    "[^ab].raw", "[a-c]x", "[]]x", "[!]]x", "x[", "my[[:space:]]file.dat", "[[:digit:]]*.txt", "[[:bogus:]]x",
    "[[:alpha:]", "[[:alpha:]]", "[[:upper:][:digit:]]y", "[[:x]y", r"\*.lit", "a\\", "*tfevents*", "*.tar.*",
    "*.lfs.*", "d?r/*", "d*/x", "**/d/**/e", "a/**/**/b", "x/*/y", ".*", "*/", "a/b/", "?", "[z-a]x", "[a-]x",
    "[-a]x", r"\[x]", "a[/]b", "a?b", "a*", "*.TXT", "**/", "/**/x", "x/**/", "deep/**", "***/q", "q/***",
    "a/b/**/c/**/d", "[\\]]z", r"[a\-c]w", "#notcomment", r"\#hash", "sp ace", "[.]dot", "\u00e9*.bin",
]
PATHS = [
    "a.bin", "x/y.bin", "saved_model/saved_model.pb", "saved_model/variables/v.data", "saved_model", "a/b",
    "a/x/b", "a/x/y/b", "b", "x/a/b", "foo", "x/foo", "foo/x", "foo/x/y", "ab", "axb", "a/b/c", "axxb", "x/ab",
    "a/xb", "rooted.dat", "x/rooted.dat", "sub/exact.dat", "x/sub/exact.dat", "name-only.dat",
    "deep/name-only.dat", "folder", "folder/x", "data/c.csv", "data/a/b/c.csv", "other/data/c.csv", "a1.raw",
    "c1.raw", "c.raw", "a.raw", "ax", "bx", "dx", "]x", "x[", "my file.dat", "my\tfile.dat", "1a.txt", "x",
    "*.lit", "a.lit", "a\\", "events.tfevents.1", "a.tar.gz", "x.lfs.y", "dir/z", "dxr/z", "dd/x", "q/d/r/e",
    "d/e", "d/x/e", "x/m/y", "x/y", ".hidden", "x/.hidden", "a?b", "a/b/c/d", "a/b/x/c/y/d", "a/b/c/x/d",
    "Ay", "7y", ":y", "xy", "[x]", "-x", "]z", "bw", "-w", "#notcomment", "#hash", "sp ace", "sp", ".dot",
    "adot", "\u00e9t\u00e9.bin", "q", "x/q", "q/x", "q/x/y", "a.TXT", "a.txt", "x/x", "z/x",
]


def _git_attrs(tmp_path: Path, text: str, paths: list[str]) -> dict[tuple[str, str], str]:
    repo = tmp_path / "attrs"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / ".gitattributes").write_text(text, encoding="utf-8")
    out = subprocess.run(["git", "-c", "core.quotePath=false", "check-attr", "-z", "--all", "--stdin"],
                         cwd=repo, input="\0".join(paths).encode() + b"\0", capture_output=True, check=True).stdout
    fields = out.decode().split("\0")
    return {(fields[i], fields[i + 1]): fields[i + 2] for i in range(0, len(fields) - 2, 3)}


def _state(value: object) -> str:
    return {True: "set", UNSET: "unset", UNSPECIFIED: "unspecified"}.get(value, value)  # type: ignore[arg-type]


def test_every_pattern_matches_as_git_check_attr(tmp_path):
    text = "".join(f"{p} p{i}\n" for i, p in enumerate(PATTERNS))
    git = _git_attrs(tmp_path, text, PATHS)
    wrong = []
    for i, pattern in enumerate(PATTERNS):
        attrs = GitAttributes(text, f"p{i}")
        for path in PATHS:
            want = git.get((path, f"p{i}"), "unspecified")
            if _state(attrs.value(path)) != want:
                wrong.append(f"{pattern!r} on {path!r}: git {want}, cove {_state(attrs.value(path))}")
    assert not wrong, "\n".join(wrong)


ATTRIBUTE_FILES = [
    # the last line wins; -filter and !filter undo an earlier filter=lfs
    "*.bin filter=lfs\nspecial.bin -filter\nkeep/*.bin !filter\n",
    # on one line the last mention wins; "-a=b" unsets a
    "*.bin filter=lfs -filter\n*.dat -filter filter=lfs\n*.raw -filter=lfs\n",
    # macros: defined anywhere, the last definition wins, expanded where set; a macro unset is not expanded
    "[attr]big filter=lfs diff=lfs\n*.bin big\n*.x big -big\n[attr]other -filter\n*.y other\n[attr]other filter=x\n",
    # nested macros and the built-in binary (which leaves filter alone)
    "[attr]m1 filter=lfs\n[attr]m2 m1 text\n*.bin m2\n*.dat filter=lfs binary\n*.raw binary filter=lfs\n",
    # quoted patterns, blanks, comments, invalid attribute names drop the whole line, negative patterns
    '"with space.bin" filter=lfs\n   *.dat filter=lfs\n\t# c.bin filter=lfs\n*.raw filter=lfs -bad^name\n'
    "!*.x filter=lfs\n*.y filter=lfs -x-y=z\n\"a\\tb.bin\" filter=lfs\n\"oct\\101.bin\" filter=lfs\n",
    # a folder pattern never matches a file; Cove's own default file plus added exact lines
    DEFAULT_GITATTRIBUTES + "folder/ filter=lfs\nsub/exact.dat filter=lfs\nname.dat filter=lfs\n",
]
ATTRIBUTE_PATHS = PATHS + ["special.bin", "keep/a.bin", "keep/x/a.bin", "a.dat", "a.x", "a.y", "with space.bin",
                           "a\tb.bin", "octA.bin", "c.bin", "x/name.dat", "folder/name.txt", "model.safetensors",
                           "x/saved_model/y/z.pb", "run.tfevents.7"]


@pytest.mark.parametrize("number", range(len(ATTRIBUTE_FILES)))
def test_lfs_decision_is_git_check_attr_filter(tmp_path, number):
    text = ATTRIBUTE_FILES[number]
    git = _git_attrs(tmp_path, text, ATTRIBUTE_PATHS)
    patterns = lfs_patterns(text)
    wrong = [f"{path!r}: git {git.get((path, 'filter'), 'unspecified')}, cove {patterns.matches(path)}"
             for path in ATTRIBUTE_PATHS
             if patterns.matches(path) != (git.get((path, "filter")) == "lfs")]
    assert not wrong, "\n".join(wrong)


def test_saved_model_files_go_to_lfs_with_the_default_attributes():
    patterns = lfs_patterns(DEFAULT_GITATTRIBUTES)
    assert patterns.matches("saved_model/saved_model.pb")  # a/**/b matches a/b: the old matcher missed it
    assert patterns.matches("saved_model/variables/variables.data-00000-of-00001")


def test_many_exact_lines_are_looked_up_not_matched_one_by_one():
    patterns = lfs_patterns("".join(f"f{i}.bin filter=lfs\n" for i in range(50_000)))
    assert patterns.attributes.globs == [] and len(patterns.attributes.exact_names) == 50_000
    assert patterns.matches("deep/f49999.bin") and not patterns.matches("f50000.bin")


IGNORE_FILES = [
    "nested/*\n", "*.log\n!keep.log\n", "build/\n!build/keep.txt\n", "/top.txt\n", "**/cache/**\n",
    "a/**/b\n", "*.tmp   \n", "\\#x\n\\!y\n", "doc/*.md\n!doc/README.md\n", "x\\ \n", "dir\n", "[abc].txt\n",
    "# comment\n\n*.bin\r\n", "*\n!*/\n!*.py\n",
]
IGNORE_PATHS = ["nested/file.bin", "nested/a/b.bin", "x/nested/file.bin", "a.log", "keep.log", "x/keep.log",
                "build/a.o", "build/keep.txt", "x/build/a.o", "top.txt", "x/top.txt", "cache/a", "x/cache/y/z",
                "a/b", "a/x/y/b", "b", "f.tmp", "#x", "!y", "doc/a.md", "doc/README.md", "doc/x/a.md", "x ",
                "dir", "dir/a", "x/dir/y", "a.txt", "d.txt", "a.bin", "x/y.bin", "src/a.py", "src/a.c", "a.py"]


@pytest.mark.parametrize("number", range(len(IGNORE_FILES)))
def test_gitignore_is_git_check_ignore(tmp_path, number):
    text = IGNORE_FILES[number]
    repo = tmp_path / "ignore"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / ".gitignore").write_text(text, encoding="utf-8")
    out = subprocess.run(["git", "check-ignore", "--no-index", "-z", "--stdin"], cwd=repo,
                         input="\0".join(IGNORE_PATHS).encode() + b"\0", capture_output=True).stdout
    ignored = {p for p in out.decode().split("\0") if p}
    rules = GitIgnore(text)
    wrong = [f"{path!r}: git {path in ignored}, cove {rules.ignored(path)}" for path in IGNORE_PATHS
             if rules.ignored(path) != (path in ignored)]
    assert not wrong, "\n".join(wrong)
