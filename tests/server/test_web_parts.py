"""The web UI's pure parts: card rendering, float precision, safetensors headers, the upload parser."""

from __future__ import annotations

import asyncio
import json
import struct

import pytest

from cove.errors import BadRequest, PayloadTooLarge
from cove.server.routes._card_html import humanize, metadata_rows, render_markdown, results_table, short_float
from cove.server.services.uploads import UploadLimits, parse_upload
from cove.server.services.weights import human_params, parse_header
from cove.server.storage.blobs import BlobStore


def test_short_float_is_the_shortest_text_of_the_float32():
    assert short_float(2.299999952316284) == "2.3"
    assert short_float(0.10000000149011612) == "0.1"
    assert short_float(16777217.0) == "16777216.0"  # not representable in float32
    assert short_float(1e-07) == "1e-07" and short_float(float("nan")) == "nan"
    assert short_float(0.0999755859375, "<e") == "0.1"  # float16
    for value in (3.14159274101257324, 1 / 3, 123456.789, -7.5e-12):
        text = short_float(value)
        assert struct.pack("<f", float(text)) == struct.pack("<f", value)


def test_card_parts():
    assert humanize("library_name") == "Library" and humanize("some_key-name") == "Some key name"
    assert humanize("colorFrom") == "Color from" and humanize("weirdCamelKey") == "Weird camel key"
    rows = {r.key: r for r in metadata_rows({"license": "mit", "language": ["en", "fr"], "score": 0.9,
                                               "configs": [{"config_name": "default"}], "model-index": []})}
    assert rows["language"].text == "en, fr" and rows["score"].text == "0.9"
    assert rows["configs"].kind == "json" and "model-index" not in rows
    index = {"model-index": [{"name": "m", "results": [
        {"task": {"type": "t"}, "dataset": {"name": "d", "split": "test"},
         "metrics": [{"type": "acc", "value": 0.9}, "junk", {"name": "F1", "value": 0.875, "verified": True}]},
        "junk"]}, 7]}
    assert results_table(index) == [
        {"model": "m", "task": "t", "dataset": "d", "split": "test", "metric": "acc", "value": "0.9",
         "verified": False},
        {"model": "m", "task": "t", "dataset": "d", "split": "test", "metric": "F1", "value": "0.875",
         "verified": True}]
    assert results_table({"model-index": "nonsense"}) == []


@pytest.mark.parametrize("card", [
    "<!-- a -->\n# T\n",
    "x <!-- <script>alert(1)</script> --> y",
    "<!-- unclosed <script>alert(1)</script>",
    "<div onclick=alert(1)>hi</div>",
    "<scr<!-- -->ipt>alert(1)</script>",
    "[a](javascript:alert(1)) ![i](javascript:alert(2))",
    "<a href='javascript:alert(1)'>x</a>",
    "```\n<!-- kept in code -->\n```",
])
def test_markdown_never_keeps_markup_from_the_card(card):
    html = render_markdown(card, lambda page, target: f"/r/{page}/{target}")
    assert "<script" not in html and "<div" not in html and "onclick=\"" not in html
    assert 'href="javascript:' not in html and 'src="javascript:' not in html and "<a href='" not in html
    assert "&lt;!--" not in html or "kept in code" in html


def test_markdown_hides_comments_and_links_into_the_repo():
    html = render_markdown("# Title\n<!-- guidance -->\n\nSee [notes](docs/a.md) <!-- inline -->.\n",
                           lambda page, target: f"/r/{page}/{target}")
    assert "guidance" not in html and "inline" not in html
    assert '<a href="/r/blob/docs/a.md">notes</a>' in html


def _header(tensors: dict) -> bytes:
    return json.dumps(tensors).encode()


def test_safetensors_header_counts_parameters():
    head = parse_header(_header({"__metadata__": {"format": "pt"},
                                 "a": {"dtype": "F32", "shape": [3, 4], "data_offsets": [0, 48]},
                                 "b": {"dtype": "BF16", "shape": [5], "data_offsets": [48, 58]},
                                 "s": {"dtype": "F32", "shape": [], "data_offsets": [58, 62]}}))
    assert head.params == 18 and head.dtypes == (("F32", 13), ("BF16", 5))
    for bad in (b"not json", b"[]", _header({"a": {"dtype": "F32", "shape": [-1]}}),
                _header({"a": {"dtype": "F32", "shape": "3"}}), b"\xff\xfe"):
        assert parse_header(bad) is None
    assert human_params(124_439_808) == "124M" and human_params(7_241_732_096) == "7.24B"
    assert human_params(999) == "999" and human_params(1500) == "1.5k"


def _multipart(parts: list[tuple[str, str | None, bytes]], boundary: str = "XyZ") -> bytes:
    out = b""
    for name, filename, body in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + body + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def _parse(tmp_path, body: bytes, limits=UploadLimits(10_000, 1000, 3), chunk: int = 7):
    async def stream():
        for i in range(0, len(body), chunk):
            yield body[i:i + chunk]

    blobs = BlobStore(f"file://{tmp_path}")
    return asyncio.run(parse_upload(stream(), "multipart/form-data; boundary=XyZ", blobs, limits)), blobs


def test_upload_parser_streams_files_to_temporaries(tmp_path):
    body = _multipart([("csrf", None, b"tok"), ("files", "a.txt", b"hello\r\nworld"),
                       ("files", "", b""), ("files", "b.bin", b"\0" * 900), ("summary", None, "Hi é".encode())])
    form, blobs = _parse(tmp_path, body)
    assert form.fields == {"csrf": "tok", "summary": "Hi é"}
    assert [(f.path, f.read()) for f in form.files] == [("a.txt", b"hello\r\nworld"), ("b.bin", b"\0" * 900)]
    commit = form.commit("sub/dir/", "msg")
    assert [op.path for op in commit.ops] == ["sub/dir/a.txt", "sub/dir/b.bin"]
    form.discard()
    assert list(blobs.tmp_dir.iterdir()) == []


@pytest.mark.parametrize(("parts", "error"), [
    ([("files", "big.bin", b"x" * 1001)], PayloadTooLarge),
    ([("files", f"{i}.txt", b"x") for i in range(4)], BadRequest),
    ([("files", "../up.txt", b"x")], BadRequest),
    ([("files", ".git/config", b"x")], BadRequest),
    ([("f", None, b"x" * 70_000)], PayloadTooLarge),
])
def test_upload_parser_refuses_and_keeps_nothing(tmp_path, parts, error):
    with pytest.raises(error):
        _parse(tmp_path, _multipart(parts), limits=UploadLimits(100_000, 1000, 3))
    assert list(BlobStore(f"file://{tmp_path}").tmp_dir.iterdir()) == []


def test_upload_parser_bounds_the_body_and_its_form(tmp_path):
    with pytest.raises(PayloadTooLarge):
        _parse(tmp_path, _multipart([("files", "a.bin", b"x" * 900)] * 2), limits=UploadLimits(1000, 1000, 3))
    with pytest.raises(BadRequest):
        _parse(tmp_path, b"--XyZ\r\ngarbage without headers end")
    form, _ = _parse(tmp_path, _multipart([("files", "same.txt", b"1"), ("files", "same.txt", b"2")]))
    with pytest.raises(BadRequest):
        form.commit("", "two of the same")
    form.discard()
    blobs = BlobStore(f"file://{tmp_path}")

    async def empty():
        yield b""

    with pytest.raises(BadRequest):
        asyncio.run(parse_upload(empty(), "application/json", blobs, UploadLimits(10, 10, 1)))
