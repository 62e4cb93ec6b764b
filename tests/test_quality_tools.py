"""The test tooling itself: `make mutation`'s script works (on a tiny project, in seconds), and a run that
asked for PostgreSQL fails loudly when PostgreSQL is not there instead of passing without testing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _toy_project(root: Path) -> Path:
    (root / "toy").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "toy" / "__init__.py").write_text("")
    (root / "tests" / "__init__.py").write_text("")
    (root / "toy" / "money.py").write_text(
        "def left(committed, paid):\n"
        "    return committed - paid\n\n\n"
        "def may_pay(committed, paid, amount):\n"
        "    return amount <= committed - paid\n")
    (root / "tests" / "test_money.py").write_text(
        "from toy.money import left, may_pay\n\n\n"
        "def test_left():\n    assert left(10, 3) == 7\n\n\n"
        "def test_may_pay():\n    assert may_pay(10, 3, 7)\n")  # the boundary above (8) is not tested: a survivor
    (root / "pyproject.toml").write_text('[tool.mutmut]\npytest_add_cli_args = ["-p", "no:cacheprovider", "-q"]\n')
    return root


def test_the_mutation_script_kills_and_reports_survivors_on_a_tiny_project(tmp_path):
    project = _toy_project(tmp_path / "toy-project")
    result = subprocess.run([sys.executable, "-m", "tests.mutation", "--project", str(project), "--source", "toy",
                             "--tests", "tests", "--work", str(tmp_path / "work"), "toy/money.py"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    score = re.search(r"toy/money.py: (\d+)/(\d+) mutants killed", result.stdout)
    assert score, result.stdout
    killed, counted = int(score.group(1)), int(score.group(2))
    assert 0 < killed < counted  # it kills the tested behaviour and reports the untested boundary
    summary = json.loads((tmp_path / "work" / "toy_money_py" / "summary.json").read_text())
    assert summary["killed"] == killed and len(summary["surviving"]) == counted - killed
    assert all(name.startswith("toy.money.") for name in summary["surviving"])
    assert "survived: toy.money.x_may_pay__mutmut_" in result.stdout


def test_the_mutation_config_covers_the_six_modules():
    from tests.mutation import MODULE_TESTS

    assert set(MODULE_TESTS) == {"portal/access.py", "portal/grants/ledger.py", "portal/grants/services.py",
                                 "portal/reports/validation.py", "portal/reports/services.py",
                                 "portal/indicators/compute.py"}
    for module, tests in MODULE_TESTS.items():
        assert (ROOT / module).exists(), module
        assert tests and all((ROOT / t).exists() for t in tests), (module, tests)
    assert "[tool.mutmut]" in (ROOT / "pyproject.toml").read_text()
    assert "mutation:" in (ROOT / "Makefile").read_text()


def _pytest_against(url: str, **env) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("CI", "ALLOW_NO_POSTGRES")}
    environment.update(TEST_DATABASE_URL=url, **env)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_smoke.py"],
                          cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300, check=False)


def test_an_unreachable_postgresql_fails_the_run_loudly_outside_ci_too():
    result = _pytest_against("postgresql+psycopg://postgres@127.0.0.1:1/none")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "PostgreSQL is not reachable" in result.stdout + result.stderr


def test_skipping_without_postgresql_must_be_asked_for():
    result = _pytest_against("postgresql+psycopg://postgres@127.0.0.1:1/none", ALLOW_NO_POSTGRES="1")
    assert result.returncode == 0 and "skipped" in result.stdout, result.stdout + result.stderr
