"""Mutation testing on demand (`make mutation`): mutmut 3 breaks the rules of the money, access, report and
indicator modules one small change at a time and runs the tests that cover each module; a mutant that no
test notices "survives". Not part of `make test` (it takes long); `tests/test_quality_tools.py` runs this
script on a tiny project to show it works.

    python -m tests.mutation                                   # the six modules, one after the other
    python -m tests.mutation portal/grants/ledger.py           # one module (with its tests)
    python -m tests.mutation --project DIR --source pkg --tests tests pkg/mod.py   # another project

Each module runs in a copy of the project under `.mutation/<module>/` (mutmut writes a `mutants/` folder
where it runs; the shared working tree stays clean), with mutmut's settings from `[tool.mutmut]` in
pyproject.toml and, per module, `only_mutate` and the test selection below. The summary (score and the
surviving mutants, with `mutmut show NAME` to see each) is printed and written to
`.mutation/<module>/summary.json`."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: The modules under mutation and the tests that exercise them. For each mutant mutmut runs only those of these
#: tests that called the mutated function while it collected statistics, so the list must hold the tests that call
#: the module (a file that calls nothing is reported after the run; a function none of them calls has mutants
#: "with no tests"). The fast files written from survivors come first: test_permissions_by_role.py,
#: test_agreement_records.py, test_report_months_and_records.py, test_report_warning_words.py, test_indicator_exact.py.
MODULE_TESTS: dict[str, list[str]] = {
    "portal/access.py": ["tests/test_permissions_by_role.py", "tests/test_security.py"],
    "portal/grants/ledger.py": ["tests/test_ledger.py", "tests/test_ledger_errors.py", "tests/test_money_invariants.py"],
    "portal/grants/services.py": ["tests/test_agreement_records.py", "tests/test_ledger.py", "tests/test_ledger_errors.py",
                                  "tests/test_money_invariants.py", "tests/test_four_eyes.py"],
    "portal/reports/validation.py": ["tests/test_report_warning_words.py", "tests/test_report_validation.py",
                                     "tests/test_report_rules_exact.py", "tests/test_reports.py"],
    "portal/reports/services.py": ["tests/test_report_months_and_records.py", "tests/test_reports.py", "tests/test_report_integrity.py",
                                   "tests/test_report_completeness.py", "tests/test_report_bulk.py"],
    "portal/indicators/compute.py": ["tests/test_indicator_exact.py", "tests/test_indicator_measures.py", "tests/test_indicators.py",
                                     "tests/test_indicators_corrections.py", "tests/test_grievance_indicators.py",
                                     "tests/test_indicator_downloads.py"],
}

IGNORED = shutil.ignore_patterns(".venv", ".git", ".mutation", "mutants", "__pycache__", "instance", "node_modules",
                                 ".pytest_cache", ".ruff_cache", ".hypothesis", "test-artifacts", "*.pyc")


def _toml_list(values: list[str]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


RUN_KEYS = {"source_paths", "paths_to_mutate", "only_mutate", "pytest_add_cli_args_test_selection", "tests_dir"}


def _configure(pyproject: Path, module: str, tests: list[str], source: str) -> None:
    """Keep the project's [tool.mutmut] settings (one line each) and set, for this run, what to mutate and
    which tests to run."""
    text = pyproject.read_text(encoding="utf-8") if pyproject.exists() else ""
    section = re.search(r"(?ms)^\[tool\.mutmut\]\n(.*?)(?=^\[|\Z)", text)
    kept = ""
    if section:
        kept = "".join(line + "\n" for line in section.group(1).splitlines()
                       if line.strip() and line.split("=")[0].strip() not in RUN_KEYS)
        text = text[:section.start()] + text[section.end():]
    pyproject.write_text(text.rstrip() + "\n\n[tool.mutmut]\n" + kept
                         + f"source_paths = {_toml_list([source])}\n"
                         + f"only_mutate = {_toml_list([module])}\n"
                         + f"pytest_add_cli_args_test_selection = {_toml_list(tests)}\n", encoding="utf-8")


def tests_covering_nothing(stats_file: Path, tests: list[str]) -> list[str]:
    """The listed test files that call no function of the module. mutmut runs, for each mutant, only the listed
    tests that called the mutated function while it collected its statistics (it records every call through
    the module's trampolines, routes and fixtures included), so a file here only costs time, and a function
    no listed test calls has mutants "with no tests" (counted as survivors): the list needs the tests that do."""
    if not stats_file.exists():
        return []
    covering = json.loads(stats_file.read_text(encoding="utf-8")).get("tests_by_mangled_function_name", {})
    used = {node.split("::")[0] for nodes in covering.values() for node in nodes}
    return [t for t in tests if t.endswith(".py") and t not in used]


def run_module(project: Path, module: str, tests: list[str], source: str, work_root: Path, max_children: int,
               mutmut: str) -> dict:
    work = work_root / re.sub(r"[^A-Za-z0-9]+", "_", module).strip("_")
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(project, work, ignore=IGNORED)
    _configure(work / "pyproject.toml", module, tests, source)
    # One migrated SQLite database per module run, copied by each mutant's test run (tests/conftest.py).
    env = dict(os.environ, TEST_DATABASE_URL=os.environ.get("MUTATION_DATABASE_URL", "sqlite"), PYTHONDONTWRITEBYTECODE="1",
               TEST_SQLITE_TEMPLATE=str(work / "migrated-template.db"))
    log = work / "mutmut.log"
    with log.open("w", encoding="utf-8") as out:
        run = subprocess.run([mutmut, "run", "--max-children", str(max_children)], cwd=work, env=env, stdout=out,
                             stderr=subprocess.STDOUT, check=False)
    subprocess.run([mutmut, "export-cicd-stats"], cwd=work, env=env, capture_output=True, check=False)
    stats_file = work / "mutants" / "mutmut-cicd-stats.json"
    if run.returncode != 0 or not stats_file.exists():
        tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise SystemExit(f"mutmut failed on {module} (exit {run.returncode}); see {log}\n{tail}")
    stats = json.loads(stats_file.read_text(encoding="utf-8"))
    listing = subprocess.run([mutmut, "results", "--all", "true"], cwd=work, env=env, capture_output=True, text=True,
                             check=False).stdout
    outcomes = dict(re.findall(r"^\s*(\S+__mutmut_\d+): (.+)$", listing, flags=re.M))
    counted = stats["total"] - stats.get("skipped", 0)
    killed = stats["killed"] + stats.get("timeout", 0)
    summary = {"module": module, "tests": tests, "stats": stats, "killed": killed, "counted": counted,
               "score_pct": round(100 * killed / counted, 1) if counted else None,
               "surviving": sorted(name for name, outcome in outcomes.items() if outcome.strip() in {"survived", "no tests"}),
               "no_tests": sorted(name for name, outcome in outcomes.items() if outcome.strip() == "no tests"),
               "tests_covering_nothing": tests_covering_nothing(work / "mutants" / "mutmut-stats.json", tests),
               "work_dir": str(work)}
    (work / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", help="files to mutate (default: the six of MODULE_TESTS)")
    parser.add_argument("--project", type=Path, default=ROOT, help="the project to copy (default: this one)")
    parser.add_argument("--source", default="portal", help="the package holding the modules")
    parser.add_argument("--tests", nargs="*", help="the tests to run (default: MODULE_TESTS of the module)")
    parser.add_argument("--deselect", nargs="*", default=[], help="test ids to leave out (e.g. one failing for another reason)")
    parser.add_argument("--work", type=Path, default=None, help="where the copies go (default: PROJECT/.mutation)")
    parser.add_argument("--max-children", type=int, default=int(os.environ.get("MUTATION_JOBS", "1")))
    parser.add_argument("--min-score", type=float, default=None, help="exit 1 when a module scores below this")
    args = parser.parse_args(argv)
    project = args.project.resolve()
    work_root = (args.work or project / ".mutation").resolve()
    mutmut = shutil.which("mutmut", path=str(Path(sys.executable).parent)) or shutil.which("mutmut")
    if mutmut is None:
        raise SystemExit("mutmut is not installed: pip install -r requirements-dev.txt")
    modules = args.modules or list(MODULE_TESTS)
    failed = False
    for module in modules:
        tests = args.tests or MODULE_TESTS.get(module)
        if not tests:
            raise SystemExit(f"no tests known for {module}: pass --tests")
        tests = tests + [f"--deselect={test_id}" for test_id in args.deselect]
        summary = run_module(project, module, tests, args.source, work_root, args.max_children, mutmut)
        print(f"{module}: {summary['killed']}/{summary['counted']} mutants killed ({summary['score_pct']} %)")
        for name in summary["surviving"]:
            print(f"  survived: {name}   (cd {summary['work_dir']} && mutmut show {name})")
        if summary["no_tests"]:
            print(f"  {len(summary['no_tests'])} of the survivors are in functions no listed test calls")
        for test in summary["tests_covering_nothing"]:
            print(f"  note: {test} calls nothing in {module}; it can leave the list")
        if args.min_score is not None and (summary["score_pct"] or 0) < args.min_score:
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
