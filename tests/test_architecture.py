"""The architecture of ARCHITECTURE.md and STYLE.md, enforced: dependency direction, a light
``import cove``, ruff, and the line budget per file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LINE_BUDGET = 800


def run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_import_cove_does_not_import_torch():
    code = "import sys, cove, cove.errors, cove.protocol; sys.exit(1 if 'torch' in sys.modules else 0)"
    proc = run(sys.executable, "-c", code)
    assert proc.returncode == 0, proc.stderr or "import cove imported torch"


def test_dependency_direction():
    proc = run(str(BIN / "lint-imports"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]


def test_ruff_clean():
    proc = run(str(BIN / "ruff"), "check", "src", "tests", "bench")
    assert proc.returncode == 0, proc.stdout[-3000:]


def test_line_budget():
    big = [(p.relative_to(ROOT), n) for p in (ROOT / "src").rglob("*.py")
           if (n := len(p.read_text().splitlines())) > LINE_BUDGET]
    assert big == [], f"files over {LINE_BUDGET} lines: split them by concern (STYLE.md): {big}"


def test_public_names_resolve_lazily():
    code = ("import sys, cove\n"
            "assert 'torch' not in sys.modules and 'pyarrow' not in sys.modules\n"
            "for name in cove.__all__:\n"
            "    getattr(cove, name)\n"
            "print('ok')")
    proc = run(sys.executable, "-c", code)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr[-2000:]
