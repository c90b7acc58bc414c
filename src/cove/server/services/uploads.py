"""The web upload form (``multipart/form-data``) streamed into the blob store's temporaries.

Each file part is written as it arrives to a :class:`~cove.server.storage.blobs.BlobWriter` (a temp
file that hashes as it writes), so memory stays a few chunks whatever the file sizes; the result is
a :class:`~cove.server.services.ndjson.ParsedCommit` of :class:`NewFile` operations, which
``Commits.apply`` turns into one commit with the API's rules (LFS by ``.gitattributes``, size or
binary content). Text fields (the CSRF token, the commit message, the folder) are bounded small.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool

from cove.errors import BadRequest, PayloadTooLarge
from cove.protocol import check_path
from cove.server.services.ndjson import NewFile, ParsedCommit
from cove.server.storage.blobs import BlobStore, BlobWriter

MAX_FIELD = 64 * 1024
MAX_FIELDS = 20


@dataclass(frozen=True)
class UploadLimits:
    max_bytes: int  # the whole request body
    max_file_bytes: int
    max_files: int


@dataclass
class UploadForm:
    fields: dict[str, str] = field(default_factory=dict)
    files: list[NewFile] = field(default_factory=list)

    def discard(self) -> None:
        for f in self.files:
            f.discard()

    def commit(self, folder: str, summary: str, description: str = "", parent: str | None = None) -> ParsedCommit:
        """The files as one commit, each under ``folder`` (checked by the repo name rule)."""
        folder = folder.strip().strip("/")
        seen: set[str] = set()
        for f in self.files:
            f.path = f"{folder}/{f.path}" if folder else f.path
            check_path(f.path)
            if f.path in seen:
                raise BadRequest(f"{f.path} appears twice in the upload")
            seen.add(f.path)
        return ParsedCommit(summary=summary, description=description, parent_commit=parent, ops=list(self.files))


class _Parts:
    """The parser's callbacks: headers of the current part, then its data to a field or a file."""

    def __init__(self, blobs: BlobStore, limits: UploadLimits, form: UploadForm) -> None:
        self.blobs, self.limits, self.form = blobs, limits, form
        self.header_name = b""
        self.header_value = b""
        self.headers: dict[bytes, bytes] = {}
        self.name = ""
        self.value = bytearray()
        self.writer: BlobWriter | None = None
        self.filename: str | None = None

    def callbacks(self) -> dict:
        return {"on_part_begin": self.begin, "on_header_field": self.header_field,
                "on_header_value": self.header_val, "on_header_end": self.header_end,
                "on_headers_finished": self.headers_done, "on_part_data": self.data, "on_part_end": self.end}

    def begin(self) -> None:
        self.headers, self.value, self.writer, self.filename = {}, bytearray(), None, None

    def header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def header_val(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def header_end(self) -> None:
        self.headers[self.header_name.lower()] = self.header_value
        self.header_name, self.header_value = b"", b""

    def headers_done(self) -> None:
        _, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        try:
            self.name = options.get(b"name", b"").decode("utf-8")
            filename = options.get(b"filename")
            self.filename = filename.decode("utf-8") if filename is not None else None
        except UnicodeDecodeError:
            raise BadRequest("Form field and file names must be UTF-8") from None
        if self.filename:  # an empty file input sends a part with filename=""
            if len(self.form.files) >= self.limits.max_files:
                raise BadRequest(f"At most {self.limits.max_files} files in one upload")
            check_path(self.filename)
            self.writer = BlobWriter(self.blobs)
            self.form.files.append(NewFile(self.filename, writer=self.writer))
        elif self.filename is None and len(self.form.fields) >= MAX_FIELDS:
            raise BadRequest("Too many form fields")

    def data(self, data: bytes, start: int, end: int) -> None:
        if self.writer is not None:
            if self.writer.size + end - start > self.limits.max_file_bytes:
                raise PayloadTooLarge(f"{self.filename} is over {self.limits.max_file_bytes} bytes, the largest "
                                      "file this Hub takes")
            self.writer.write(data[start:end])
        elif self.filename is None:
            if len(self.value) + end - start > MAX_FIELD:
                raise PayloadTooLarge(f"The form field {self.name!r} is over {MAX_FIELD} bytes")
            self.value += data[start:end]

    def end(self) -> None:
        if self.writer is None and self.filename is None:
            self.form.fields[self.name] = self.value.decode("utf-8", "replace")


async def parse_upload(stream: AsyncIterator[bytes], content_type: str, blobs: BlobStore,
                       limits: UploadLimits) -> UploadForm:
    """Read a ``multipart/form-data`` body; on any error nothing of it is kept."""
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise BadRequest("Send the upload as multipart/form-data")
    form = UploadForm()
    parts = _Parts(blobs, limits, form)
    parser = MultipartParser(boundary, parts.callbacks())
    total = 0
    try:
        async for chunk in stream:
            total += len(chunk)
            if total > limits.max_bytes:
                raise PayloadTooLarge(f"The upload is over {limits.max_bytes} bytes")
            await run_in_threadpool(parser.write, chunk)
        parser.finalize()
    except MultipartParseError as e:
        form.discard()
        raise BadRequest(f"Malformed multipart upload: {e}") from None
    except BaseException:
        form.discard()
        raise
    return form
