"""The architecture of ARCHITECTURE.md and STYLE.md, enforced: dependency direction, a light
``import cove``, ruff, and the line budget per file."""

from __future__ import annotations

import ast
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


#: What a service may import from SQLAlchemy: the session types it opens transactions with, and the
#: exceptions it turns into answers. Statements (select, update, func, ...) are built in server/db/.
SQL_IMPORTS_ALLOWED = {"sqlalchemy.orm": {"Session", "sessionmaker"}, "sqlalchemy.exc": None}
#: Session methods that run a statement.
SQL_CALLS = {"execute", "scalar", "scalars"}
#: Services not yet moved, each with why (empty when the layering is whole).
SQL_IN_SERVICES_EXCEPTIONS: dict[str, str] = {}


def _sql_in(path: Path) -> list[str]:
    """Where the module at ``path`` builds or runs SQL: its SQLAlchemy imports beyond the session types,
    and its calls of ``.execute(`` / ``.scalar(`` / ``.scalars(``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlalchemy":
            allowed = SQL_IMPORTS_ALLOWED.get(node.module, set())
            bad = [a.name for a in node.names if allowed is not None and a.name not in allowed]
            if bad:
                found.append(f"line {node.lineno}: from {node.module} import {', '.join(bad)}")
        elif isinstance(node, ast.Import) and any(a.name.split(".")[0] == "sqlalchemy" for a in node.names):
            found.append(f"line {node.lineno}: import sqlalchemy")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in SQL_CALLS:
            found.append(f"line {node.lineno}: .{node.func.attr}(...)")
    return found


def test_sql_only_in_db():
    """Services own transactions, git and storage; the statements live in ``cove.server.db``."""
    services = ROOT / "src" / "cove" / "server" / "services"
    offenders = {p.name: hits for p in sorted(services.glob("*.py"))
                 if p.name not in SQL_IN_SERVICES_EXCEPTIONS and (hits := _sql_in(p))}
    assert offenders == {}, f"SQL outside server/db/ (move it into a function of cove.server.db): {offenders}"


def test_sql_guard_sees_sql(tmp_path):
    """The guard above catches what it is meant to (so that it cannot pass by looking at nothing)."""
    sample = tmp_path / "service.py"
    sample.write_text("from sqlalchemy import select\nfrom sqlalchemy.orm import sessionmaker, aliased\n"
                      "import sqlalchemy.sql\nfrom sqlalchemy.exc import IntegrityError\n"
                      "def f(s):\n    return s.execute(select(1))\n")
    assert [h.split(":")[0] for h in _sql_in(sample)] == ["line 1", "line 2", "line 3", "line 6"]
