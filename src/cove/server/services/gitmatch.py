"""git's path patterns, exactly as git reads them: ``.gitattributes`` (which files go to LFS) and
``.gitignore`` (which files an upload leaves out).

A pattern is matched the way git's ``wildmatch`` does with ``WM_PATHNAME`` (git 2.39, ``dir.c``,
``attr.c``, ``wildmatch.c``), translated once into a regex:

- ``*`` and ``?`` never match ``/``; a bracket ``[a-z]``, ``[!x]``, ``[^x]``, ``[[:space:]]`` never
  matches ``/`` either; ``\\x`` is ``x``; an unterminated bracket or an unknown class never matches;
- ``**`` between slashes (or at either end) spans folders: ``a/**/b`` matches ``a/b``, ``a/x/b`` and
  ``a/x/y/b``; ``**/x`` matches ``x`` at any depth; ``x/**`` everything inside ``x``. Elsewhere ``**``
  is ``*``;
- a pattern with no ``/`` but a trailing one matches the file name at any depth; with one, the whole
  path from the root (a leading ``/`` only anchors); a trailing ``/`` matches folders only, so in
  ``.gitattributes`` it never matches a file.

``tests/server/test_gitmatch.py`` compares every rule with ``git check-attr`` and ``git check-ignore``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

_CLASSES = {
    "alnum": "a-zA-Z0-9", "alpha": "a-zA-Z", "blank": " \\t", "cntrl": "\\x00-\\x1f\\x7f", "digit": "0-9",
    "graph": "!-~", "lower": "a-z", "print": " -~", "punct": "!-/:-@\\[-`{-~", "space": " \\t\\n\\r\\f\\v",
    "upper": "A-Z", "xdigit": "0-9a-fA-F",
}


def _class_char(c: str) -> str:
    return "\\" + c if c in "\\]-[^" else c


def _bracket(pat: str, i: int) -> tuple[str | None, int]:
    """The bracket expression at ``pat[i] == '['`` as a regex (None: git's WM_ABORT_ALL, a pattern that
    never matches) and the index after it."""
    j = i + 1
    negated = j < len(pat) and pat[j] in "!^"
    if negated:
        j += 1
    items: list[str] = []
    prev: str | None = None
    first = True
    while True:
        if j >= len(pat):
            return None, j
        c = pat[j]
        if c == "]" and not first:
            j += 1
            break
        first = False
        if c == "\\":
            j += 1
            if j >= len(pat):
                return None, j
            c = pat[j]
            items.append(_class_char(c))
            prev = c
        elif c == "-" and prev is not None and j + 1 < len(pat) and pat[j + 1] != "]":
            j += 1
            end = pat[j]
            if end == "\\":
                j += 1
                if j >= len(pat):
                    return None, j
                end = pat[j]
            items.pop()
            if prev <= end:
                items.append(f"{_class_char(prev)}-{_class_char(end)}")
            prev = None
        elif c == "[" and j + 1 < len(pat) and pat[j + 1] == ":":
            close = pat.find("]", j + 2)
            if close < 0:
                return None, j
            if pat[close - 1] != ":" or close - 1 < j + 2:  # no ":]": an ordinary "["
                items.append(_class_char("["))
                prev = "["
            else:
                name = pat[j + 2:close - 1]
                if name not in _CLASSES:
                    return None, j
                items.append(_CLASSES[name])
                prev = None
                j = close
        else:
            items.append(_class_char(c))
            prev = c
        j += 1
    body = "".join(items)
    if negated:
        return f"[^/{body}]", j
    return (f"(?!/)[{body}]" if body else "(?!)"), j


@functools.lru_cache(maxsize=4096)
def wildmatch_regex(pattern: str) -> re.Pattern | None:
    """``pattern`` matched as git's ``wildmatch(pattern, text, WM_PATHNAME)``; None if it never matches."""
    out, i, n = [], 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 >= n:
                return None  # a trailing backslash matches nothing
            out.append(re.escape(pattern[i + 1]))
            i += 2
        elif c == "*":
            j = i
            while j < n and pattern[j] == "*":
                j += 1
            slash_after = j < n and (pattern[j] == "/" or pattern[j:j + 2] == "\\/")
            if j - i >= 2 and (i == 0 or pattern[i - 1] == "/") and (j == n or slash_after):
                if j == n:
                    out.append(".*")
                else:
                    out.append("(?:.*/)?")
                    j += 1 if pattern[j] == "/" else 2
            else:
                out.append("[^/]*")
            i = j
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            rx, i = _bracket(pattern, i)
            if rx is None:
                return None
            out.append(rx)
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)


@dataclass(frozen=True)
class PathPattern:
    """One pattern of a ``.gitattributes`` or ``.gitignore`` line (``dir.c: parse_path_pattern``)."""

    pattern: str  # without the leading "/" and the trailing "/"
    basename: bool  # no "/": matched against the file name at any depth
    dir_only: bool  # a trailing "/"

    @classmethod
    def parse(cls, text: str) -> PathPattern:
        dir_only = text.endswith("/")
        if dir_only:
            text = text[:-1]
        basename = "/" not in text
        if not basename and text.startswith("/"):
            text = text[1:]
        return cls(text, basename, dir_only)

    @property
    def literal(self) -> bool:
        return not any(c in self.pattern for c in "*?[\\")

    def matches(self, path: str, is_dir: bool = False) -> bool:
        if self.dir_only and not is_dir:
            return False
        subject = path.rsplit("/", 1)[-1] if self.basename else path
        if self.literal:
            return subject == self.pattern
        rx = wildmatch_regex(self.pattern)
        return rx is not None and rx.match(subject) is not None


# -- .gitignore -------------------------------------------------------------------------------------


class GitIgnore:
    """The rules of one ``.gitignore`` at the repo's root: the last matching line decides, a ``!`` line
    includes again, and nothing inside an ignored folder can be included again."""

    def __init__(self, text: str) -> None:
        self.rules: list[tuple[PathPattern, bool]] = []  # (pattern, negated)
        self._folders: dict[str, bool] = {}
        for line in text.removeprefix("\ufeff").split("\n"):
            line = _trim_trailing_spaces(line.removesuffix("\r"))
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            if negated:
                line = line[1:]
            if line:
                self.rules.append((PathPattern.parse(line), negated))

    def _decides(self, path: str, is_dir: bool) -> bool:
        for pattern, negated in reversed(self.rules):
            if pattern.matches(path, is_dir):
                return not negated
        return False

    def ignored(self, path: str) -> bool:
        """Whether the file at ``path`` is ignored."""
        if not self.rules:
            return False
        parts = path.split("/")
        for k in range(1, len(parts)):
            folder = "/".join(parts[:k])
            if folder not in self._folders:  # the files of one folder share its answer
                self._folders[folder] = self._decides(folder, True)
            if self._folders[folder]:
                return True
        return self._decides(path, False)


def _trim_trailing_spaces(line: str) -> str:
    """git's ``trim_trailing_spaces``: trailing spaces go, unless escaped by a backslash."""
    end = len(line)
    while end > 0 and line[end - 1] == " ":
        backslashes = len(line[:end - 1]) - len(line[:end - 1].rstrip("\\"))
        if backslashes % 2:
            break
        end -= 1
    return line[:end]


# -- .gitattributes -----------------------------------------------------------------------------------

_ATTR_NAME = re.compile(r"[A-Za-z0-9_.][-A-Za-z0-9_.]*")
_BLANK = " \t\r\n"
#: git ignores longer lines (``ATTR_MAX_LINE_LENGTH``, since 2.39.1).
MAX_LINE = 2048
UNSET, UNSPECIFIED = False, None  # states besides True and a string value
_QUOTED = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", '"': '"', "\\": "\\"}


def _unquote(text: str) -> tuple[str, str] | None:
    """A C-quoted pattern at the start of ``text`` (``"a b.bin" filter=lfs``) and the rest; None if malformed."""
    out, i = [], 1
    while i < len(text):
        c = text[i]
        if c == '"':
            return "".join(out), text[i + 1:]
        if c == "\\":
            i += 1
            if i >= len(text):
                return None
            if text[i] in _QUOTED:
                out.append(_QUOTED[text[i]])
            elif text[i] in "0123":
                digits = text[i:i + 3]
                if len(digits) < 3 or any(d not in "01234567" for d in digits):
                    return None
                out.append(chr(int(digits, 8)))
                i += 2
            else:
                return None
        else:
            out.append(c)
        i += 1
    return None


def _states(tokens: list[str]) -> list[tuple[str, object]] | None:
    """``[(attribute, state)]`` of a line's attribute tokens; None if one is invalid (git drops the line)."""
    out = []
    for token in tokens:
        name, equals, value = token.partition("=")
        if name.startswith(("-", "!")):  # "-a=b" unsets a, as git reads it
            name, state = name[1:], UNSET if name[0] == "-" else UNSPECIFIED
        else:
            state = value if equals else True
        if not _ATTR_NAME.fullmatch(name):
            return None
        out.append((name, state))
    return out


@dataclass(frozen=True)
class AttrLine:
    index: int
    pattern: PathPattern
    states: tuple[tuple[str, object], ...]


class GitAttributes:
    """The ``.gitattributes`` at a repo's root, asked for one attribute (``attribute``) of file paths.

    As git's ``fill``: matching lines from the last to the first, each line's attributes from the last
    to the first, the first state met for an attribute is its value, and a macro set to true (``[attr]``
    lines; ``binary`` is built in) stands for its own attributes at that point. Only the attribute asked
    for and the macros that lead to it are kept. Literal patterns are looked up in sets (Cove writes one
    line per LFS file no pattern covers), so a path costs the number of wildcard lines, not of lines.
    """

    def __init__(self, text: str, attribute: str) -> None:
        macros: dict[str, list[tuple[str, object]]] = {"binary": [("diff", UNSET), ("merge", UNSET), ("text", UNSET)]}
        lines: list[tuple[str, list[tuple[str, object]]]] = []
        for raw in text.split("\n"):
            line = raw.lstrip(_BLANK)
            if not line or line.startswith("#") or len(raw) >= MAX_LINE:
                continue
            quoted = _unquote(line) if line.startswith('"') else None
            if quoted is not None:
                pattern, rest = quoted
            else:
                end = next((i for i, c in enumerate(line) if c in _BLANK), len(line))
                pattern, rest = line[:end], line[end:]
            states = _states([t for t in re.split(r"[ \t\r\n]+", rest) if t])
            if states is None:
                continue
            if pattern.startswith("[attr]") and len(pattern) > len("[attr]"):
                name = pattern[len("[attr]"):]
                if _ATTR_NAME.fullmatch(name):
                    macros[name] = states  # the last definition wins
                continue
            if not pattern or pattern.startswith("!"):
                continue  # git ignores negative patterns in attributes
            lines.append((pattern, states))
        self.attribute = attribute
        self.macros = macros
        self.relevant = self._relevant(attribute, macros)
        self.exact_paths: dict[str, list[int]] = {}
        self.exact_names: dict[str, list[int]] = {}
        self.globs: list[AttrLine] = []
        self.lines: list[AttrLine] = []
        for pattern, states in lines:
            kept = tuple((n, s) for n, s in states if n in self.relevant)
            if not kept:
                continue
            item = AttrLine(len(self.lines), PathPattern.parse(pattern), kept)
            self.lines.append(item)
            if item.pattern.dir_only:
                continue  # matches folders only: never a file
            if item.pattern.literal:
                index = self.exact_names if item.pattern.basename else self.exact_paths
                index.setdefault(item.pattern.pattern, []).append(item.index)
            else:
                self.globs.append(item)

    @staticmethod
    def _relevant(attribute: str, macros: dict) -> set[str]:
        """The attribute and every macro whose expansion may set it."""
        relevant, changed = {attribute}, True
        while changed:
            changed = False
            for name, states in macros.items():
                if name not in relevant and any(n in relevant for n, _ in states):
                    relevant.add(name)
                    changed = True
        return relevant

    def value(self, path: str) -> object:
        """The attribute's state for file ``path``: True, a string, UNSET (False) or UNSPECIFIED (None)."""
        found = set(self.exact_paths.get(path, ()))
        found.update(self.exact_names.get(path.rsplit("/", 1)[-1], ()))
        found.update(g.index for g in self.globs if g.pattern.matches(path))
        known: dict[str, object] = {}
        for index in sorted(found, reverse=True):
            self._fill(self.lines[index].states, known, 0)
            if self.attribute in known:
                return known[self.attribute]
        return UNSPECIFIED

    def _fill(self, states, known: dict, depth: int) -> None:
        for name, state in reversed(states):
            if name in known:
                continue
            known[name] = state
            if state is True and name in self.macros and depth < 32:
                self._fill(tuple((n, s) for n, s in self.macros[name] if n in self.relevant), known, depth + 1)
