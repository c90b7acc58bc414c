"""Chat templates: render a conversation with the model's Jinja2 template, as transformers does.

Matches `transformers.utils.chat_template_utils` (`_compile_jinja_template`, `render_jinja_template`):
an immutable sandboxed environment with `trim_blocks` and `lstrip_blocks`, the `loopcontrols`
extension, a `tojson` filter that does not escape HTML, and the `raise_exception` and
`strftime_now` globals. Templates come from the Hub, so they are untrusted code: the sandbox
refuses attribute access to Python internals.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

Message = dict[str, Any]
_CONTINUE_TAG = "CONTINUE_FINAL_MESSAGE_TAG "


class _GenerationTag(jinja2.ext.Extension):
    """`{% generation %}...{% endgeneration %}`: accepted and rendered as its body."""

    tags = {"generation"}

    def parse(self, parser: Any) -> Any:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

    def _render(self, caller: Any) -> str:
        return caller()


def _raise_exception(message: str) -> None:
    raise jinja2.exceptions.TemplateError(message)


def _tojson(x: Any, ensure_ascii: bool = False, indent: int | None = None, separators: Any = None,
            sort_keys: bool = False) -> str:
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


def compile_template(source: str) -> jinja2.Template:
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[_GenerationTag, jinja2.ext.loopcontrols])
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    return env.from_string(source)


def render(template: str, messages: list[Message], *, add_generation_prompt: bool = False,
           continue_final_message: bool = False, tools: list[dict[str, Any]] | None = None,
           documents: list[dict[str, str]] | None = None, variables: dict[str, Any] | None = None) -> str:
    """The rendered conversation; `variables` are the special tokens and any extra template inputs."""
    if not messages:
        raise ValueError("Cannot apply chat template to an empty conversation. Provide at least one message.")
    if continue_final_message and add_generation_prompt:
        raise ValueError("continue_final_message and add_generation_prompt are not compatible")
    chat = [{k: v for k, v in m.items() if v is not None} for m in messages]
    final = ""
    if continue_final_message:
        final = chat[-1].get("content")
        if not isinstance(final, str):
            raise ValueError('continue_final_message needs a final message with a string "content"')
        chat[-1] = {**chat[-1], "content": final + _CONTINUE_TAG}
    rendered = compile_template(template).render(messages=chat, tools=tools, documents=documents,
                                                 add_generation_prompt=add_generation_prompt, **(variables or {}))
    if continue_final_message:
        if final.strip() not in rendered or _CONTINUE_TAG.strip() not in rendered:
            raise ValueError("continue_final_message is set but the final message does not appear in the chat")
        loc = rendered.rindex(_CONTINUE_TAG.strip())
        if rendered[loc:loc + len(_CONTINUE_TAG)] == _CONTINUE_TAG:
            rendered = rendered[:loc]
        else:
            rendered = rendered[:loc].rstrip()
    return rendered
