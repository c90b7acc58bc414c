"""The one name rule (cove.protocol.name_problem): every file or folder name from a client, a push or a
tree read back passes it or is refused. A table of names, then the paths built from them."""

from __future__ import annotations

import pytest

from cove.errors import BadRequest
from cove.protocol import check_path, git_name_problem, is_dotgit, name_problem

REFUSED = {
    "dot-dot": "..",
    "dot": ".",
    "empty": "",
    ".git": ".git",
    "upper": ".GIT",
    "mixed case": ".Git",
    "trailing dot": ".git.",
    "trailing space": ".git ",
    "trailing dots and spaces": ".git . .",
    "ntfs stream": ".git::$INDEX_ALLOCATION",
    "ntfs short name": "git~1",
    "ntfs short name, upper": "GIT~1",
    "ntfs short name, trailing dot": "git~1.",
    "hfs zwnj": ".g\u200cit",
    "hfs zwj": ".\u200dgit",
    "hfs lrm": ".gi\u200et",
    "hfs rlm": ".git\u200f",
    "hfs embedding": "\u202a.git",
    "hfs override": ".g\u202eit",
    "hfs shaping": ".g\u206ait",
    "hfs digit shapes": ".gi\u206ft",
    "hfs bom": ".git\ufeff",
    "hfs upper": ".G\u200cIT",
    "slash": "a/b",
    "backslash": "a\\b",
    "nul": "a\x00b",
    "newline": "a\nb",
    "escape": "\x1b[31mred",
    "del": "a\x7f",
    "c1 control": "a\x85b",
    "lone high surrogate": "\ud800",
    "lone low surrogate": "a\udc80b",
    "256 bytes": "a" * 256,
    "256 bytes of 2-byte characters": "é" * 128,
}
ALLOWED = {
    "plain": "model.safetensors",
    ".gitattributes": ".gitattributes",
    ".gitignore": ".gitignore",
    ".github": ".github",
    ".gitkeep": ".gitkeep",
    ".gitmodules is a file like any other": ".gitmodules",
    "dots": "...",
    "git~2": "git~2",
    "git without dot": "git",
    ".git inside": "a.git",
    "leading space": " .git",
    "space": "my file.txt",
    "unicode": "données-été.csv",
    "emoji": "🤗.md",
    "colon": "a:b",
    "255 bytes": "a" * 255,
    "254 bytes of 2-byte characters": "é" * 127,
    "zero-width elsewhere": "a\u200cb",
}


@pytest.mark.parametrize("name", REFUSED.values(), ids=REFUSED.keys())
def test_refused_names(name):
    assert name_problem(name) is not None
    assert git_name_problem(name.encode(errors="surrogatepass")) is not None  # the same name from git
    if "/" in name:
        return  # in a path, '/' separates two names
    with pytest.raises(BadRequest):
        check_path(name)
    with pytest.raises(BadRequest):
        check_path(f"folder/{name}/file.txt")


@pytest.mark.parametrize("name", ALLOWED.values(), ids=ALLOWED.keys())
def test_allowed_names(name):
    assert name_problem(name) is None
    assert git_name_problem(name.encode()) is None
    assert check_path(name) == name
    assert check_path(f"folder/{name}/file.txt") == f"folder/{name}/file.txt"


@pytest.mark.parametrize("name", [".git", ".GIT", ".git.", ".git ", "git~1", ".g\u200cit", ".git:x", "GiT~1 . "])
def test_dotgit_spellings(name):
    assert is_dotgit(name)


def test_messages_say_what_is_wrong():
    cases = {
        "a/../b": "'..'",
        ".GIT/config": "'.git' is reserved",
        "x\ud800.txt": "lone surrogate",
        "a" * 300: "255 bytes",
        "a\x7f": "control characters",
        "a\\b": "'\\'",
        "/etc/passwd": "without a leading '/'",
        "a//b": "cannot be empty",
        "/".join(["abcdefgh"] * 500): "4096 bytes",
    }
    for path, words in cases.items():
        with pytest.raises(BadRequest) as err:
            check_path(path)
        assert words in err.value.message, (path, err.value.message)
        assert err.value.message.startswith("Invalid path ")


@pytest.mark.parametrize("value", [None, 3, b"a.txt", ["a"]])
def test_non_strings_are_refused(value):
    with pytest.raises(BadRequest):
        check_path(value)


def test_names_from_git_are_bytes():
    assert git_name_problem(b"model.bin") is None
    assert git_name_problem("données.csv".encode()) is None
    assert "UTF-8" in git_name_problem(b"\xff\xfe")
    assert "UTF-8" in git_name_problem(b"\xed\xa0\x80")  # a surrogate, encoded: not UTF-8
    assert "UTF-8" in git_name_problem(b"\xc0\xae\xc0\xae")  # an overlong '..'
    assert git_name_problem(b"..") is not None
    assert git_name_problem(".g\u200cit".encode()) is not None
