"""The pickle import scanner on real pickles (torch, numpy, the pickle module) and hand-made opcodes:
what it lists and grades, in every layout it reads, and that it never runs what it reads."""

from __future__ import annotations

import collections
import io
import os
import pickle
import zipfile

import numpy as np
import pytest
import torch

from cove.server.services.pickles import classify, scan


class Touch:
    """Unpickling this runs ``os.system``: the scanner must flag it, and never run it."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return os.system, (f"touch {self.path}",)


class Custom:
    def __init__(self) -> None:
        self.x = 1


def state_dict() -> dict:
    return collections.OrderedDict(w=torch.randn(2, 3), b=torch.zeros(3, dtype=torch.int64),
                                   h=torch.ones(2, dtype=torch.bfloat16))


def torch_bytes(obj, **kwargs) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf, **kwargs)
    return buf.getvalue()


def result(data: bytes, **kwargs):
    r = scan(io.BytesIO(data), **kwargs)
    return r.status, {(i.module, i.name): i.safety for i in r.imports}, r.message


TORCH_SAFE = {("collections", "OrderedDict"): "innocuous", ("torch._utils", "_rebuild_tensor_v2"): "innocuous",
              ("torch", "FloatStorage"): "innocuous", ("torch", "LongStorage"): "innocuous",
              ("torch", "BFloat16Storage"): "innocuous"}


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_torch_state_dict_is_safe(legacy):
    data = torch_bytes(state_dict(), _use_new_zipfile_serialization=not legacy)
    assert result(data) == ("safe", TORCH_SAFE, "")


def test_torch_module_is_suspicious_for_its_class():
    status, imports, _ = result(torch_bytes({"layer": torch.nn.Linear(2, 2)}))
    assert status == "suspicious"
    assert imports[("torch.nn.modules.linear", "Linear")] == "suspicious"
    assert imports[("torch._utils", "_rebuild_parameter")] == "innocuous"


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_os_system_is_dangerous_in_every_protocol_and_never_runs(protocol, tmp_path):
    marker = tmp_path / "ran"
    status, imports, _ = result(pickle.dumps(Touch(str(marker)), protocol=protocol))
    assert status == "unsafe"
    assert imports == {(os.system.__module__, "system"): "dangerous"}  # posix on Linux, nt on Windows
    assert not marker.exists()


def test_custom_class_is_suspicious():
    assert result(pickle.dumps(Custom())) == ("suspicious", {(__name__, "Custom"): "suspicious"}, "")


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_numpy_arrays_and_scalars_are_safe(protocol):
    status, imports, _ = result(pickle.dumps({"a": np.arange(3.0), "s": np.float64(1), "set": {1}, "b": b"x"},
                                             protocol=protocol))
    assert status == "safe" and imports and set(imports.values()) == {"innocuous"}


def test_zip_checkpoint_with_a_malicious_member(tmp_path):
    good = zipfile.ZipFile(io.BytesIO(torch_bytes(state_dict())))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name in good.namelist():
            z.writestr(name, good.read(name))
        z.writestr("archive/extra.pkl", pickle.dumps(Touch(str(tmp_path / "ran"))))
    status, imports, _ = result(out.getvalue())
    assert status == "unsafe"
    assert imports[(os.system.__module__, "system")] == "dangerous"
    assert imports[("torch._utils", "_rebuild_tensor_v2")] == "innocuous"


def test_npy_numeric_and_object_arrays():
    numeric, objects = io.BytesIO(), io.BytesIO()
    np.save(numeric, np.arange(4))
    np.save(objects, np.array([Custom(), None], dtype=object), allow_pickle=True)
    assert result(numeric.getvalue()) == ("safe", {}, "a numeric array: no pickle inside")
    status, imports, _ = result(objects.getvalue())
    assert status == "suspicious" and imports[(__name__, "Custom")] == "suspicious"


# Hand-made opcodes: the strings of a STACK_GLOBAL come through the memo, a dotted name walks to
# os.system, an operand that is not a string, a second pickle after a harmless first one.
@pytest.mark.parametrize("data, found", [
    (b"\x80\x04\x8c\x02os\x94\x8c\x04echo\x94h\x00\x8c\x06system\x86\x94h\x00\x8c\x06system\x93.", ("os", "system")),
    (b"\x80\x04\x8c\tposixpath\x8c\tos.system\x93\x8c\x02id\x85R.", ("posixpath", "os.system")),
    (b"\x80\x04K\x01\x8c\x06system\x93.", ("unknown", "system")),
    (pickle.dumps([1]) + b"cbuiltins\neval\n.", ("builtins", "eval")),
], ids=["memo", "dotted", "not-a-string", "second-pickle"])
def test_hidden_imports_are_found(data, found):
    status, imports, _ = result(data)
    assert status == "unsafe" and imports[found] == "dangerous"


@pytest.mark.parametrize("data, message", [
    (b"", "an empty file where a pickle is expected"),
    (pickle.dumps(Custom())[:-5], "the data is not a pickle (pickle exhausted before seeing STOP)"),
    (bytes(range(177, 256)) * 3, "the data is not a pickle (at position 0, opcode b'\\xb1' unknown)"),
    (b"hello world\n", "the data is not a pickle (LIST without a MARK)"),
    (pickle.dumps([1]) + b"\xff junk",
     f"the data after pickle 1 is not a pickle (at position {len(pickle.dumps([1]))}, opcode b'\\xff' unknown)"),
    (b"PK\x03\x04 not really a zip", "a broken zip archive (File is not a zip file)"),
], ids=["empty", "truncated", "garbage", "text", "trailing-junk", "broken-zip"])
def test_unreadable_content_is_an_error_not_an_exception(data, message):
    status, _, got = result(data)
    assert (status, got) == ("error", message)


def test_truncated_pickle_still_reports_what_it_imported():
    status, imports, _ = result(pickle.dumps(Touch("/nonexistent"))[:-3])
    assert status == "unsafe" and imports[(os.system.__module__, "system")] == "dangerous"


def test_reading_stops_at_the_size_limit():
    data = pickle.dumps([b"x" * 10_000, Custom()], protocol=4)
    status, imports, message = result(data, max_bytes=5000)
    assert status == "error" and imports == {} and "size limit" in message
    assert result(data, max_bytes=20_000)[0] == "suspicious"


@pytest.mark.parametrize("module, name, safety", [
    ("torch", "HalfStorage", "innocuous"), ("torch", "float8_e4m3fn", "innocuous"),
    ("torch._utils", "_rebuild_parameter", "innocuous"), ("numpy.dtypes", "Float64DType", "innocuous"),
    ("builtins", "set", "innocuous"), ("__builtin__", "getattr", "dangerous"), ("builtins", "__import__", "dangerous"),
    ("subprocess", "Popen", "dangerous"), ("os.path", "join", "dangerous"), ("runpy", "_run_code", "dangerous"),
    ("webbrowser", "open", "dangerous"), ("socket", "socket", "dangerous"), ("shutil", "rmtree", "dangerous"),
    ("pty", "spawn", "dangerous"), ("nt", "system", "dangerous"), ("importlib", "import_module", "dangerous"),
    ("builtins", "object.__subclasses__", "dangerous"), ("collections", "OrderedDict.fromkeys", "suspicious"),
    ("__main__", "Model", "suspicious"), ("sklearn.linear_model", "LogisticRegression", "suspicious"),
])
def test_classify(module, name, safety):
    assert classify(module, name) == safety
