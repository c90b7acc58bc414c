"""Repo cards: a README.md whose YAML front matter (between ``---`` lines) holds the metadata the Hub
indexes (license, tags, pipeline_tag, library_name, datasets, language, configs, ...).

Cards come from anyone, so the front matter is parsed within bounds: at most :data:`MAX_FRONT_MATTER`
bytes, :data:`MAX_DEPTH` levels of nesting and :data:`MAX_NODES` values *counted as if every alias
were written out*. YAML aliases (``*a``) reuse a node, so a few hundred bytes of nested aliases
(the "billion laughs") describe billions of values: cheap to parse, but whoever walks the result
(JSON for a listing, a template) pays for all of them. Such a card is refused with ``ValueError``.
"""

from __future__ import annotations

import re

import yaml

#: As huggingface_hub's ``REGEX_YAML_BLOCK``: blank lines may come before the first ``---``.
_FRONT = re.compile(r"\A\ufeff?\s*---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.DOTALL)

MAX_FRONT_MATTER = 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 100_000


def _check_size(root: yaml.Node) -> None:
    """Refuse a composed YAML graph that expands past MAX_NODES values or MAX_DEPTH levels, or that
    refers to itself. Each node is visited once; its expanded size is memoised by identity."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    # explicit stack of (node, depth, children done?) so that a deep document cannot exhaust recursion
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, done = stack.pop()
        key = id(node)
        children = ([n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode)
                    else node.value if isinstance(node, yaml.SequenceNode) else [])
        if done:
            open_nodes.discard(key)
            sizes[key] = 1 + sum(sizes[id(c)] for c in children)
            if sizes[key] > MAX_NODES:
                raise ValueError(f"The card's front matter expands to more than {MAX_NODES} values "
                                 "(YAML aliases are counted as written out)")
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            raise ValueError("The card's front matter refers to itself (a recursive YAML alias)")
        if depth > MAX_DEPTH:
            raise ValueError(f"The card's front matter nests deeper than {MAX_DEPTH} levels")
        open_nodes.add(key)
        stack.append((node, depth, True))
        stack.extend((c, depth + 1, False) for c in children if id(c) not in sizes)


def load_front_matter(text: str) -> object:
    """Parse YAML front matter within the module's bounds; ``ValueError`` says what is wrong."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FRONT_MATTER:
        raise ValueError(f"The card's front matter is over {MAX_FRONT_MATTER} bytes")
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_size(node)
        return loader.construct_document(node)
    except yaml.YAMLError as e:
        raise ValueError(f"Invalid YAML in the card's front matter: {e}") from None
    except RecursionError:
        raise ValueError(f"The card's front matter nests deeper than {MAX_DEPTH} levels") from None
    finally:
        loader.dispose()


def split_card(text: str) -> tuple[dict, str]:
    """``(metadata, body)`` of a card. A card without front matter has ``{}``; front matter that is
    not a YAML mapping, or is too large (see the module docstring), raises ``ValueError``."""
    m = _FRONT.match(text)
    if not m:
        return {}, text
    data = load_front_matter(m.group(1))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError("The card's front matter must be a YAML mapping (key: value lines)")
    return data, text[m.end():]


def join_card(metadata: dict, body: str) -> str:
    """The card text for ``metadata`` and ``body`` (no front matter when metadata is empty)."""
    if not metadata:
        return body
    return "---\n" + yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True) + "---\n" + body
