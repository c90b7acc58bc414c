"""The one error the CAS core raises on bad input.

Every parser and validator of this package refuses malformed or unverifiable data (a truncated
xorb, a wrong hash, a shard term pointing past the end of a xorb) with :class:`InvalidXetData`. It
is a :class:`cove.errors.BadRequest`, so a route that lets it through answers 400 with the usual
``X-Error-Code`` and JSON body, which the Xet client treats as fatal (spec §3.1) rather than
retrying.

:class:`XetStoreError` is the other side: the CAS's own data is missing or damaged (500).
"""

from __future__ import annotations

from cove.errors import BadRequest, CoveError


class InvalidXetData(BadRequest):
    """A xorb, shard, hash or range that does not follow the Xet format or does not verify.

    Example: ``InvalidXetData: xorb hash mismatch: the chunks hash to 0096ffcd…, the URL names 1f6a…``
    """


class XetStoreError(CoveError):
    """Stored CAS data is missing or does not match its index: a fault of the server, not the request.

    Example: ``XetStoreError: xorb 0096ffcd… of file d2d31f60… is not stored``
    """
