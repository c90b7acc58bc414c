"""Values the database keeps encrypted (a Space's secrets): AES-256-GCM with a key derived from the Hub's
``secret`` (``<data_dir>/secret`` or ``COVE_SECRET_KEY``, the same on every replica), each value bound to
what it belongs to (the Space and the secret's name), so a value copied onto another row does not open.

A stored value reads ``aesgcm1:<base64 of nonce + ciphertext + tag>``. A database opened with another key
fails at start with :class:`WrongKey` (:func:`check_key`), never hands an app garbage.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "aesgcm1:"


class WrongKey(RuntimeError):
    """A sealed value does not open with this key (another ``secret`` than the one that sealed it)."""


def secret_context(repo_id: int, key: str) -> bytes:
    """What a Space secret's value is bound to: its Space and its name."""
    return f"space-secret:{repo_id}:{key}".encode()


class Sealer:
    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("sealing needs the Hub's secret")
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"cove sealed values v1")
        self._aead = AESGCM(derived.derive(secret.encode()))

    def seal(self, value: str, context: bytes) -> str:
        nonce = os.urandom(12)
        return PREFIX + base64.b64encode(nonce + self._aead.encrypt(nonce, value.encode(), context)).decode()

    def open(self, stored: str, context: bytes) -> str:
        if not is_sealed(stored):
            raise WrongKey("a value that should be encrypted is stored in clear (run `cove db upgrade`)")
        raw = base64.b64decode(stored[len(PREFIX):])
        try:
            return self._aead.decrypt(raw[:12], raw[12:], context).decode()
        except InvalidTag:
            raise WrongKey(
                "Space secrets in the database were encrypted with another key: start the Hub with the data "
                "dir's `secret` file (or COVE_SECRET_KEY) that it was started with before, the same on every "
                "replica") from None


def is_sealed(stored: str) -> bool:
    return stored.startswith(PREFIX)
