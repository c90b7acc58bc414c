"""Pickle import scanning, as the Hugging Face Hub's picklescan reports it, without ever unpickling.

A pickle is a program for a small stack machine; the only way it can reach code is through the
globals it imports (``GLOBAL``, ``INST``, ``STACK_GLOBAL``; ``REDUCE``, ``BUILD`` and ``NEWOBJ``
then call what was imported). :func:`scan` lists those imports and grades each one:

- ``innocuous``: rebuilds tensors, arrays and plain containers (what ``torch.load(weights_only=True)``
  allows, and the Hub's picklescan allow list);
- ``dangerous``: runs commands, evaluates code, opens files or sockets, imports modules by name;
- ``suspicious``: anything else (a custom class: loading it runs whatever that class does).

Opcodes are read one at a time with :func:`pickletools.genops` (which decodes, never executes) and
followed on a small symbolic stack that keeps only short strings, so a ``STACK_GLOBAL`` whose
module and name come from the memo is still resolved; one whose operands are not plain strings is
reported as an ``unknown`` dangerous import. Reading is bounded (bytes, opcodes, stack and memo).

Layouts: a plain pickle (several back to back are all read, as picklescan does), a zip-based torch
checkpoint (every ``*.pkl`` member, e.g. ``archive/data.pkl``), a legacy torch file (five pickles,
then raw tensor bytes that are not read), and a ``.npy`` array of Python objects (the pickle after
the header). A file that is none of these where a pickle is expected gets the status ``error``.
"""

from __future__ import annotations

import ast
import pickletools
import re
import zipfile
from dataclasses import dataclass
from typing import BinaryIO

#: Bumped when the lists below change, so stored results are scanned again.
VERSION = 1
MAX_BYTES = 256 * 1024 * 1024
MAX_OPS = 20_000_000
MAX_STACK = 1_000_000
MAX_MEMO = 1_000_000
MAX_MEMBERS = 1000
#: Longer strings are never a module or attribute name: the stack keeps them as unknown values.
MAX_NAME = 256

#: Statuses, as the Hub's ``securityFileStatus`` names them, from best to worst.
STATUSES = ("safe", "suspicious", "error", "unsafe")

TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
#: A legacy torch file: magic number, protocol version, system info, the object, the storage keys;
#: raw tensor bytes follow.
TORCH_LEGACY_PICKLES = 5

_STRING_OPS = frozenset({"STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "SHORT_BINUNICODE", "BINUNICODE",
                         "BINUNICODE8"})
_INT_OPS = frozenset({"INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4"})
_MEMO_PUTS = frozenset({"PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"})
_MEMO_GETS = frozenset({"GET", "BINGET", "LONG_BINGET"})
_MARK = object()
UNKNOWN = "unknown"

# -- the lists ------------------------------------------------------------------------------------

_DATA_BUILTINS = {"set", "frozenset", "bytearray", "complex", "slice", "range", "bytes", "str", "int", "float",
                  "bool", "list", "tuple", "dict"}
INNOCUOUS: dict[str, set[str]] = {
    "collections": {"OrderedDict", "Counter"},
    "builtins": _DATA_BUILTINS,
    "__builtin__": _DATA_BUILTINS,  # protocols 0-2 name the builtins module this way
    "_codecs": {"encode"},  # bytes, in protocols 0-2
    "torch": {"Size", "Tensor", "device", "per_tensor_affine", "per_tensor_symmetric", "per_channel_affine",
              "per_channel_symmetric", "per_channel_affine_float_qparams"},
    "torch._tensor": {"_rebuild_from_type_v2"},
    "torch.nn.parameter": {"Parameter"},
    "torch.serialization": {"_get_layout"},
    "torch.storage": {"UntypedStorage", "TypedStorage"},
    "numpy": {"dtype", "ndarray"},
    "numpy.core.multiarray": {"_reconstruct", "scalar"},
    "numpy._core.multiarray": {"_reconstruct", "scalar"},
    "numpy.core.numeric": {"_frombuffer"},
    "numpy._core.numeric": {"_frombuffer"},
}
#: torch's storage classes and dtypes (``torch FloatStorage``, ``torch bfloat16``), numpy 2's dtype
#: classes (``numpy.dtypes Float64DType``) and torch's tensor rebuilders (``torch._utils _rebuild_*``).
_INNOCUOUS_PATTERNS = {
    "torch": re.compile(r"\w*Storage|u?int\d+|float\d*(_\w+)?|bfloat16|half|double|long|int|short|bool|"
                        r"complex\d+|cfloat|cdouble|chalf|q(u)?int\w*"),
    "torch._utils": re.compile(r"_rebuild_\w+"),
    "numpy.dtypes": re.compile(r"\w+DType"),
}

_CODE_BUILTINS = {"eval", "exec", "compile", "getattr", "setattr", "delattr", "__import__", "open", "breakpoint",
                  "apply", "globals", "locals", "vars", "input", "execfile", "reload"}
#: ``"*"``: every name in the module (and its submodules) is dangerous.
DANGEROUS: dict[str, set[str] | str] = {
    "builtins": _CODE_BUILTINS,
    "__builtin__": _CODE_BUILTINS,
    **dict.fromkeys((
        "os", "posix", "nt", "subprocess", "commands", "pty", "runpy", "socket", "ssl", "webbrowser", "shutil",
        "sys", "importlib", "imp", "inspect", "ctypes", "cffi", "code", "codeop", "pdb", "bdb", "pickle",
        "_pickle", "cPickle", "dill", "marshal", "types", "timeit", "cProfile", "profile", "trace", "pydoc",
        "pip", "venv", "ensurepip", "distutils", "setuptools", "asyncio", "aiohttp", "httplib", "http",
        "urllib", "urllib2", "requests", "smtplib", "ftplib", "telnetlib", "multiprocessing", "signal",
        "tempfile", "platform", "numpy.f2py", "numpy.testing", "numpy.distutils", "torch.hub",
        "torch._inductor", "torch._dynamo", "torch.utils.cpp_extension", "torch.utils.collect_env",
        "torch.utils.bottleneck", "idlelib", "lib2to3",
    ), "*"),
    "io": {"open", "open_code", "FileIO"},
    "_io": {"open", "open_code", "FileIO"},
    "functools": {"partial", "reduce"},
    "operator": {"attrgetter", "itemgetter", "methodcaller", "getitem"},
    "torch": {"load", "save", "compile"},
    "torch.serialization": {"load", "save"},
    "numpy": {"load", "save", "fromfile", "loadtxt"},
    "joblib": {"load"},
    "pandas": {"read_pickle", "eval"},
    "doctest": {"debug_script"},
}
#: Attribute names that reach code or other modules from any object.
_DANGEROUS_ATTRS = {"__globals__", "__builtins__", "__import__", "__getattribute__", "__subclasses__", "__dict__",
                    "__code__", "__reduce__", "__reduce_ex__", "__class__", "__bases__", "__mro__", "__loader__",
                    "__spec__"}


def _listed(table: dict, module: str, name: str) -> bool:
    """``module.name`` is in ``table``, directly or through a parent module marked ``"*"``."""
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        entry = table.get(".".join(parts[:i]))
        if entry == "*" or (i == len(parts) and entry is not None and name in entry):
            return True
    return False


def classify(module: str, name: str) -> str:
    """``"innocuous"``, ``"suspicious"`` or ``"dangerous"`` for one import."""
    if UNKNOWN in (module, name) or not module or not name:
        return "dangerous"
    # Protocol 4 resolves dotted names (``posixpath`` + ``os.system``) by walking attributes: each
    # prefix of the walk is a module-and-name pair of its own.
    steps = name.split(".")
    for i in range(len(steps)):
        owner = ".".join([module, *steps[:i]])
        if (_listed(DANGEROUS, owner, steps[i]) or steps[i] in _DANGEROUS_ATTRS
                or DANGEROUS.get(steps[i]) == "*"):
            return "dangerous"
    if len(steps) == 1:
        if name in INNOCUOUS.get(module, ()):
            return "innocuous"
        pattern = _INNOCUOUS_PATTERNS.get(module)
        if pattern is not None and pattern.fullmatch(name):
            return "innocuous"
    return "suspicious"


# -- reading --------------------------------------------------------------------------------------


class ScanError(Exception):
    """The content is not what a loader expects (or is past the limits): the message says which."""


class _Bounded:
    """A reader that refuses to read past ``limit`` bytes, with one byte of lookahead."""

    def __init__(self, f: BinaryIO, limit: int) -> None:
        self._f = f
        self._limit = limit
        self.left = limit
        self._ahead = b""

    def tell(self) -> int:  # genops names the failing position with it
        return self._limit - self.left

    def _take(self, data: bytes) -> bytes:
        self.left -= len(data)
        return data

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0 or n > self.left:
            raise ScanError("stopped at the size limit of the scan: the rest was not read")
        head, self._ahead = self._ahead[:n], self._ahead[n:]
        return self._take(head + (self._f.read(n - len(head)) if n > len(head) else b""))

    def readline(self) -> bytes:
        if self._ahead:
            head, self._ahead = self._ahead, b""
            if head == b"\n":
                return self._take(head)
        else:
            head = b""
        line = head + self._f.readline(self.left + 1 - len(head))
        if len(line) > self.left:
            raise ScanError("stopped at the size limit of the scan: the rest was not read")
        return self._take(line)

    def at_end(self) -> bool:
        if not self._ahead:
            self._ahead = self._f.read(1)
            if not self._ahead:
                return True
        return False


def _walk(reader: _Bounded, found: set[tuple[str, str]], ops_left: list[int]) -> int | None:
    """Read one pickle (up to STOP), adding its imports to ``found``; returns its first integer.

    Raises ValueError (from genops, or a stack that does not add up) on malformed data."""
    stack: list = []
    marks: list[int] = []
    memo: dict = {}
    first_int = None
    for op, arg, _ in pickletools.genops(reader):
        ops_left[0] -= 1
        if ops_left[0] < 0:
            raise ScanError("stopped at the opcode limit of the scan")
        name = op.name
        if name in ("GLOBAL", "INST"):
            module, _, attr = arg.partition(" ")
            found.add((module, attr))
        elif name == "STACK_GLOBAL":
            if len(stack) < 2:
                raise ValueError("STACK_GLOBAL on an almost empty stack")
            module, attr = stack[-2], stack[-1]
            found.add((module if isinstance(module, str) else UNKNOWN, attr if isinstance(attr, str) else UNKNOWN))
        elif name in ("EXT1", "EXT2", "EXT4"):
            found.add(("copyreg", f"extension {arg}"))
        elif name in _INT_OPS and first_int is None:
            first_int = arg
        if name in _MEMO_PUTS:
            if not stack or stack[-1] is _MARK:
                raise ValueError("memo store of an empty stack or a mark")
            if len(memo) >= MAX_MEMO:
                raise ScanError("stopped at the memo limit of the scan")
            memo[len(memo) if name == "MEMOIZE" else arg] = stack[-1]
            continue
        if name in _MEMO_GETS:
            stack.append(memo.get(arg))
            continue
        if name == "DUP":
            if not stack or stack[-1] is _MARK:
                raise ValueError("DUP of an empty stack or a mark")
            stack.append(stack[-1])
            continue
        before = op.stack_before
        numtopop = len(before)
        if pickletools.markobject in before or (name == "POP" and stack and stack[-1] is _MARK):
            if not marks:
                raise ValueError(f"{name} without a MARK")
            del stack[marks.pop():]
            numtopop = before.index(pickletools.markobject) if pickletools.markobject in before else 0
        if numtopop:
            popped = stack[len(stack) - numtopop:]
            if len(popped) < numtopop or _MARK in popped:
                raise ValueError(f"{name} pops more than the stack holds")
            del stack[len(stack) - numtopop:]
        for item in op.stack_after:
            if item is pickletools.markobject:
                marks.append(len(stack))
                stack.append(_MARK)
            elif name in _STRING_OPS and isinstance(arg, str) and len(arg) <= MAX_NAME:
                stack.append(arg)
            else:
                stack.append(None)
        if len(stack) > MAX_STACK:
            raise ScanError("stopped at the stack limit of the scan")
    return first_int


def _pickles(reader: _Bounded, found: set[tuple[str, str]], ops_left: list[int], where: str = "") -> None:
    """Every pickle in ``reader``, back to back; a legacy torch file's tensor bytes are not read."""
    count, legacy = 0, False
    while not (count and reader.at_end()) and not (legacy and count == TORCH_LEGACY_PICKLES):
        try:
            first = _walk(reader, found, ops_left)
        except ValueError as e:
            what = "is not a pickle" if count == 0 else f"after pickle {count} is not a pickle"
            raise ScanError(f"{where}the data {what} ({e})") from None
        legacy = legacy or (count == 0 and first == TORCH_LEGACY_MAGIC)
        count += 1


def _is_object_dtype(descr) -> bool:
    if isinstance(descr, str):
        return descr.lstrip("<>|=").startswith("O")
    if isinstance(descr, list | tuple):
        return any(_is_object_dtype(field[1]) for field in descr if isinstance(field, list | tuple) and
                   len(field) >= 2)
    return False


def _npy(f: BinaryIO, found: set, ops_left: list[int], max_bytes: int) -> str:
    """A ``.npy`` file: its header, then (for object arrays only) the pickle of the array."""
    head = f.read(8)
    major = head[6] if len(head) == 8 else 0
    if major not in (1, 2, 3):
        raise ScanError(f"an unknown .npy format version {major}")
    size = int.from_bytes(f.read(2 if major == 1 else 4), "little")
    if size > 1 << 20:
        raise ScanError("a .npy header over 1 MiB")
    try:
        # a Python literal, read as data: ast.literal_eval never calls anything
        meta = ast.literal_eval(f.read(size).decode("latin-1" if major < 3 else "utf-8"))
        descr = meta["descr"]
    except Exception as e:  # noqa: BLE001 - any malformed header is reported, never raised
        raise ScanError(f"a malformed .npy header ({type(e).__name__})") from None
    if not _is_object_dtype(descr):
        return "a numeric array: no pickle inside"
    _pickles(_Bounded(f, max_bytes), found, ops_left)
    return ""


def _zip(f: BinaryIO, found: set, ops_left: list[int], max_bytes: int) -> str:
    """A zip-based torch checkpoint: every ``*.pkl`` member is a pickle torch may load."""
    try:
        archive = zipfile.ZipFile(f)
    except (zipfile.BadZipFile, ValueError, OSError) as e:
        raise ScanError(f"a broken zip archive ({e})") from None
    members = [i for i in archive.infolist() if i.filename.endswith(".pkl")]
    if not members:
        return "a zip archive with no pickle inside"
    if len(members) > MAX_MEMBERS:
        raise ScanError(f"a zip archive with more than {MAX_MEMBERS} pickles")
    left = max_bytes
    for info in members:
        with archive.open(info) as member:
            reader = _Bounded(member, left)
            _pickles(reader, found, ops_left, where=f"{info.filename}: ")
            left = reader.left
    return ""


@dataclass(frozen=True)
class Import:
    module: str
    name: str
    safety: str  # "innocuous" | "suspicious" | "dangerous"


@dataclass(frozen=True)
class PickleScan:
    """What a scan found: the status is the worst of the imports (and ``error`` when reading failed)."""

    status: str  # one of STATUSES
    imports: tuple[Import, ...]
    message: str = ""


def scan(f: BinaryIO, *, max_bytes: int = MAX_BYTES) -> PickleScan:
    """Scan a seekable binary file that a loader would unpickle. Never raises for bad content."""
    found: set[tuple[str, str]] = set()
    ops_left = [MAX_OPS]
    error, message = False, ""
    try:
        magic = f.read(8)
        f.seek(0)
        if not magic:
            raise ScanError("an empty file where a pickle is expected")
        if magic.startswith(b"PK\x03\x04"):
            message = _zip(f, found, ops_left, max_bytes)
        elif magic.startswith(b"\x93NUMPY"):
            message = _npy(f, found, ops_left, max_bytes)
        else:
            _pickles(_Bounded(f, max_bytes), found, ops_left)
    except ScanError as e:
        error, message = True, str(e)
    except Exception as e:  # noqa: BLE001 - a scan reports; it never fails the caller
        error, message = True, f"the scan failed: {type(e).__name__}: {e}"
    imports = tuple(Import(m, n, classify(m, n)) for m, n in sorted(found))
    safeties = {i.safety for i in imports}
    if "dangerous" in safeties:
        status = "unsafe"
    elif error:
        status = "error"
    elif "suspicious" in safeties:
        status = "suspicious"
    else:
        status = "safe"
    return PickleScan(status, imports, message[:500])
