"""The shared wheelhouse cannot be poisoned: a build's files join it only when the configured index lists
that file name with that sha256. A real build (pip in the sandbox, a local index standing in for PyPI)
whose requirements.txt pulls from another index, a --find-links folder, a local path and a direct URL
shares none of those; a forged file under a trusted name (what a hostile setup.py could leave) stays out."""

from __future__ import annotations

import hashlib
import threading
import zipfile
from pathlib import Path

from cove.server.spaces.builder import Builder, BuildJob, SpaceDirs
from cove.server.spaces.logs import CappedLog
from cove.server.spaces.sandbox import Limits, Sandbox
from cove.server.spaces.wheelhouse import Index, admit, project_of


def make_wheel(folder: Path, name: str, version: str, body: str = "") -> Path:
    """A minimal pure-Python wheel of a one-module project (``body`` makes two builds differ)."""
    folder.mkdir(parents=True, exist_ok=True)
    module, info = name.replace("-", "_"), f"{name.replace('-', '_')}-{version}.dist-info"
    path = folder / f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
    files = {f"{module}.py": f"VALUE = {body!r}\n",
             f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    files[f"{info}/RECORD"] = "".join(f"{n},,\n" for n in files) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as z:
        for n, text in files.items():
            z.writestr(n, text)
    return path


def make_index(root: Path, wheels: list[Path]) -> str:
    """A PEP 503 index at ``root/simple`` (pages link to ``../../files``, as the mirror here does)."""
    (root / "files").mkdir(parents=True, exist_ok=True)
    for w in wheels:
        (root / "files" / w.name).write_bytes(w.read_bytes())
        digest = hashlib.sha256(w.read_bytes()).hexdigest()
        page = root / "simple" / project_of(w.name) / "index.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(f'<a href="../../files/{w.name}#sha256={digest}">{w.name}</a>\n')
    return f"file://{root}/simple"


def test_admit_takes_only_what_the_index_vouches_for(tmp_path):
    good = make_wheel(tmp_path / "built", "goodpkg", "1.0", "real")
    index = make_index(tmp_path / "index", [good])
    download = tmp_path / "download"
    download.mkdir()
    (download / good.name).write_bytes(good.read_bytes())
    forged = make_wheel(tmp_path / "forged", "otherpkg", "1.0", "evil")  # not on the index at all
    (download / forged.name).write_bytes(forged.read_bytes())
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    assert admit(download, wheelhouse, Index([index])) == (1, [forged.name])
    assert sorted(p.name for p in wheelhouse.iterdir()) == [good.name]

    # a trusted name with other contents (a hostile setup.py writing into pip's download folder)
    newer = make_wheel(tmp_path / "built", "goodpkg", "2.0", "real")
    make_index(tmp_path / "index", [good, newer])
    (download / good.name).unlink()
    (download / newer.name).write_bytes(make_wheel(tmp_path / "forged", "goodpkg", "2.0", "evil").read_bytes())
    assert admit(download, wheelhouse, Index([index])) == (0, sorted([forged.name, newer.name]))
    assert sorted(p.name for p in wheelhouse.iterdir()) == [good.name]  # no temporary file left either
    assert admit(download, wheelhouse, Index([f"file://{tmp_path}/nowhere"])) == (0, sorted([forged.name, newer.name]))


def test_a_hostile_requirements_txt_shares_nothing_it_brought(tmp_path):
    trusted = make_wheel(tmp_path / "trusted-built", "gradio", "0.0.1", "the real SDK")
    helper = make_wheel(tmp_path / "trusted-built", "helper", "1.0")
    index = make_index(tmp_path / "trusted", [trusted, helper])
    app = tmp_path / "space" / "src" / "abc"
    evil = make_index(app / "evil", [make_wheel(app / "evil-built", "poison-b", "1.0"),
                                     make_wheel(app / "evil-built", "gradio", "0.0.1", "a forged SDK")])
    make_wheel(app / "wheels", "poison-a", "1.0")
    local = make_wheel(app / "local", "poison-c", "1.0")
    url = make_wheel(app / "url", "poison-d", "1.0")
    (app / "app.py").write_text("print('hi')\n")
    (app / "requirements.txt").write_text("\n".join([
        f"--extra-index-url {evil}", "--trusted-host evil.example", f"-f {app / 'wheels'}",
        "helper", "poison-a", "poison-b", str(local), f"poison-d @ file://{url}"]) + "\n")
    dirs = SpaceDirs(tmp_path / "space")
    (dirs.home / "tmp").mkdir(parents=True)
    wheelhouse, envs = tmp_path / "wheelhouse", tmp_path / "envs"
    builder = Builder(Sandbox("auto", Limits(1024, 600, 256)), wheelhouse, envs, timeout=300, apt=False,
                      indexes=[index])
    log = CappedLog(dirs.build_log, 200_000)
    job = BuildJob(dirs, "abc", {"sdk": "gradio", "sdk_version": "0.0.1", "app_file": "app.py"}, "gradio", False)
    try:
        built = builder.build(job, app, log, threading.Event())
    finally:
        log.close()
    text = dirs.build_log.read_text()
    installed = {p.name.split("-")[0] for p in (built.venv / "lib").glob("python3*/site-packages/*.dist-info")}
    assert {"poison_a", "poison_b", "poison_c", "poison_d", "gradio"} <= installed, text  # this build has them
    shared = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in wheelhouse.iterdir()}
    assert not any(name.startswith("poison") for name in shared), text
    assert shared[helper.name] == hashlib.sha256(helper.read_bytes()).hexdigest()  # the index's own: shared
    assert shared.get(trusted.name, hashlib.sha256(trusted.read_bytes()).hexdigest()) == \
        hashlib.sha256(trusted.read_bytes()).hexdigest()  # the SDK only if it is the index's own file
    assert "Not shared" in text and "poison_d-1.0-py3-none-any.whl" in text
