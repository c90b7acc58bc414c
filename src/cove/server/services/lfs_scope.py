"""Which LFS objects a repo may reference: the one rule every reader of a pointer goes through.

A blob in git that parses as an LFS pointer is an LFS file only if its repo may reference the object
(a RepoLfs row: uploaded to that repo or committed in it), the object is stored (as a blob or as a Xet
file: :class:`~cove.server.services.objects.Objects`), and the pointer's size is the stored size. Otherwise it is an ordinary small file whose content is the pointer text: knowing
the sha256 of a file in someone's private repo must not be enough to read it through one's own repo,
and a pointer that lies about its size must not truncate or extend a download.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from sqlalchemy.orm import sessionmaker

from cove.server.db import lfs_sizes
from cove.server.services.objects import Objects
from cove.server.storage.git import LfsScope


class LfsScopes:
    """One :data:`~cove.server.storage.git.LfsScope` per repo, with the answers kept.

    Positive answers only are kept, by storage key: RepoLfs rows are only added, except when a repo's
    owner deletes LFS files (:meth:`forget` then drops the repo's answers in this process), stored
    objects are never rewritten, and a storage key is never given to another repo (a repo id may be, in
    SQLite). Other processes (workers, replicas) keep theirs for at most ``max_age`` seconds, which
    matters little since the deletion removes the pointers from the history first. An oid asked about
    and not allowed is asked again next time, since it may be uploaded meanwhile.
    """

    def __init__(self, sessions: sessionmaker, objects: Objects, capacity: int = 1024, max_age: float = 60.0) -> None:
        self._sessions = sessions
        self._objects = objects
        #: storage key -> (when its answers started, {oid: size})
        self._known: OrderedDict[str, tuple[float, dict[str, int]]] = OrderedDict()
        self._capacity = capacity
        self._max_age = max_age
        self._lock = threading.Lock()

    def of(self, storage_key: str) -> LfsScope:
        return lambda oids: self.allowed(storage_key, oids)

    def forget(self, storage_key: str) -> None:
        """Drop what is known of one repo (some of its objects were deleted)."""
        with self._lock:
            self._known.pop(storage_key, None)

    def allowed(self, storage_key: str, oids: set[str]) -> dict[str, int]:
        """``{oid: size}`` for the objects among ``oids`` the repo may reference, as stored."""
        now = time.monotonic()
        with self._lock:
            born, known = self._known.get(storage_key) or (now, {})
            if now - born > self._max_age:
                born, known = now, {}
            self._known[storage_key] = (born, known)
            self._known.move_to_end(storage_key)
            if len(self._known) > self._capacity:
                self._known.popitem(last=False)
            out = {oid: known[oid] for oid in oids if oid in known}
        missing = oids - out.keys()
        if missing:
            found = self._objects.sizes(lfs_sizes(self._sessions, storage_key, missing))
            with self._lock:
                known.update(found)
            out.update(found)
        return out
