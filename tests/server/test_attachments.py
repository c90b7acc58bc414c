"""Images attached to comments: what counts as an image, and garbage collection keeps them."""

from __future__ import annotations

import pytest

from cove.errors import BadRequest, PayloadTooLarge
from cove.server.services import Hub
from cove.server.services.attachments import MAX_BYTES, image_type
from cove.server.services.gc import collect
from cove.server.settings import Settings

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def test_image_types_by_their_bytes():
    assert image_type(PNG) == "image/png"
    assert image_type(b"\xff\xd8\xff\xe0rest") == "image/jpeg"
    assert image_type(b"GIF89a...") == "image/gif"
    assert image_type(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    for data in (b"<svg onload=alert(1)>", b"<html>", b"", b"RIFF\x00\x00\x00\x00WAVE"):
        assert image_type(data) is None


def test_gc_keeps_attached_images(tmp_path):
    hub = Hub(Settings(data_dir=tmp_path / "data"))
    hub.accounts.create_user("pic")
    who = hub.accounts.authenticate_token(hub.accounts.create_token("pic"))
    hub.repos.create(who, "model", "pic", "r")
    oid = hub.attachments.add(who, "model", "pic/r", PNG)
    with pytest.raises(BadRequest):
        hub.attachments.add(who, "model", "pic/r", b"<svg/>")
    with pytest.raises(PayloadTooLarge):
        hub.attachments.add(who, "model", "pic/r", PNG + b"\x00" * MAX_BYTES)
    stray, _ = hub.blobs.put([b"nobody's"])
    report = collect(hub, apply=True, grace=0)
    assert stray in report.blobs and oid not in report.blobs
    assert hub.blobs.holds(oid, len(PNG)) and not hub.blobs.holds(stray, 8)
    kind, size, f = hub.attachments.open(who, "model", "pic/r", oid)
    with f:
        assert (kind, size, f.read()) == ("image/png", len(PNG), PNG)
