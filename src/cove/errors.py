"""The one exception hierarchy of Cove, shared by the Hub server and every client.

Each class that can cross the wire has an HTTP ``status`` and the ``code`` the Hugging Face Hub
sends in ``X-Error-Code``. The server answers with both (and ``{"error": message}``); the client
maps them back with :func:`from_response`, so ``RepoNotFound`` raised on the server is
``RepoNotFound`` in the caller. ``tests/test_errors.py`` round-trips every class.
"""

from __future__ import annotations


class CoveError(Exception):
    """Base of every error Cove raises on purpose."""

    status: int = 500
    code: str = "InternalError"

    def __init__(self, message: str = "") -> None:
        super().__init__(message or self.__class__.__doc__.strip().splitlines()[0])
        self.message = str(self.args[0])


class BadRequest(CoveError, ValueError):
    """The request is malformed.

    Example: ``BadRequest: Invalid repo id 'a/../b': use 'namespace/name' with letters, digits, '-', '_', '.'``
    """

    status = 400
    code = "BadRequest"


class Unauthorized(CoveError):
    """The token is missing or not valid.

    Example: ``Unauthorized: Invalid credentials in Authorization header``
    """

    status = 401
    code = "Unauthorized"


class Forbidden(CoveError):
    """The caller is known but may not do this.

    Example: ``Forbidden: This token is read-only; create a write token with `cove tokens add NAME```
    """

    status = 403
    code = "Forbidden"


class RepoNotFound(CoveError):
    """The repository does not exist, or the caller may not see it.

    Example: ``RepoNotFound: Repository not found`` (the Hub's words; the same for a private repo)
    """

    status = 404
    code = "RepoNotFound"


class RevisionNotFound(CoveError):
    """The branch, tag or commit does not exist in the repository.

    Example: ``RevisionNotFound: Invalid rev id: v2 (list refs with `list_repo_refs`)``
    """

    status = 404
    code = "RevisionNotFound"


class EntryNotFound(CoveError):
    """The file or folder does not exist at that revision.

    Example: ``EntryNotFound: A file with this name doesn't exist: weights.bin``
    """

    status = 404
    code = "EntryNotFound"


class GatedRepo(RepoNotFound):
    """The repository is gated and the caller has not been granted access.

    Example: ``GatedRepo: Access to alice/llama is restricted: ask its owner for access``
    """

    status = 403
    code = "GatedRepo"


class Conflict(CoveError):
    """The thing being created exists already, or a concurrent change won.

    Example: ``Conflict: You already created this model repo: alice/bert``
    """

    status = 409
    code = "Conflict"


class PreconditionFailed(CoveError):
    """The branch moved since the commit the caller based its change on.

    Example: ``PreconditionFailed: The branch was updated since you opened this page. Please refresh and try again.``
    """

    status = 412
    code = "PreconditionFailed"


class PayloadTooLarge(CoveError):
    """The request body is larger than the server accepts.

    Example: ``PayloadTooLarge: Request body over 64 MiB: upload large files through LFS``
    """

    status = 413
    code = "PayloadTooLarge"


class RangeNotSatisfiable(CoveError):
    """The requested byte range lies outside the file.

    Example: ``RangeNotSatisfiable: bytes=100-200 is outside a file of 50 bytes``
    """

    status = 416
    code = "RangeNotSatisfiable"


class Unprocessable(CoveError):
    """The request is well formed but its content is wrong.

    Example: ``Unprocessable: LFS object 3a7b... does not match its sha256 (got 91c2...)``
    """

    status = 422
    code = "Unprocessable"


class TooManyRequests(CoveError):
    """Too many failed attempts (or requests) from this client: wait before trying again.

    Example: ``TooManyRequests: Too many failed sign-ins for 'alice': try again in 240 s``
    """

    status = 429
    code = "TooManyRequests"

    def __init__(self, message: str = "", retry_after: int = 60) -> None:
        super().__init__(message)
        #: Seconds to wait; the server sends it as ``Retry-After``.
        self.retry_after = max(1, int(retry_after))


class LocalEntryNotFound(CoveError):
    """Offline (or the Hub is unreachable) and the file is not in the local cache.

    Example: ``LocalEntryNotFound: config.json of alice/bert is not cached; run once online``
    """

    status = 504
    code = "LocalEntryNotFound"


#: ``X-Error-Code`` -> class. Every class that crosses the wire is here, exactly once.
BY_CODE: dict[str, type[CoveError]] = {
    cls.code: cls
    for cls in (
        BadRequest,
        Unauthorized,
        Forbidden,
        RepoNotFound,
        RevisionNotFound,
        EntryNotFound,
        GatedRepo,
        Conflict,
        PreconditionFailed,
        PayloadTooLarge,
        RangeNotSatisfiable,
        Unprocessable,
        TooManyRequests,
        LocalEntryNotFound,
        CoveError,
    )
}

_BY_STATUS: dict[int, type[CoveError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: RepoNotFound,
    409: Conflict,
    412: PreconditionFailed,
    413: PayloadTooLarge,
    416: RangeNotSatisfiable,
    422: Unprocessable,
    429: TooManyRequests,
}


def from_response(status: int, code: str | None, message: str) -> CoveError:
    """The exception a client raises for an error response (status, ``X-Error-Code``, message)."""
    cls = BY_CODE.get(code or "") or _BY_STATUS.get(status, CoveError)
    err = cls(message or f"HTTP {status}")
    err.status = status
    return err
