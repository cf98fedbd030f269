"""Prove every lock: turn each one off in turn, run the concurrency tests, and show which test fails.

    DEBUG=1 .venv/bin/python tests/pgcluster.py -- .venv/bin/python tests/locks.py [--all] [--lock TEXT]

A lock no test notices is either unnecessary (remove it) or unproven (write the race that needs
it). The locks are found by parsing the application code (every ``select_for_update`` call and
every advisory-lock SQL), so a lock added later is in the table at once. Nothing in the working
tree is changed: each run of pytest gets the lock to turn off in ``LOCKS_DISABLED``, and the
plugin in ``tests/concurrency.py`` makes that one call a no-op returning the same queryset.

Runs the tests marked ``concurrency`` (controls excluded: they turn their lock off themselves),
first with every lock on (they must pass), then once per lock with ``-x``: the tests that failed
for that lock last time first (remembered in .pytest_cache/locks.json), then the tests of the
lock's own app. Prints lock -> failing test(s) and exits 1 if any lock has none.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.concurrency import LockSite, lock_sites  # noqa: E402  (needs the path above)

CACHE = ROOT / ".pytest_cache" / "locks.json"
PYTEST = [sys.executable, "-m", "pytest", "-p", "tests.concurrency", "-q", "-p", "no:randomly"]


def collect() -> list[str]:
    out = subprocess.run(
        [*PYTEST, "-m", "concurrency", "--collect-only"], cwd=ROOT, capture_output=True, text=True
    )
    ids = [line for line in out.stdout.splitlines() if "::" in line]
    if out.returncode or not ids:
        sys.exit(f"locks: collecting the concurrency tests failed:\n{out.stdout}{out.stderr}")
    return [i for i in ids if "[control" not in i]


def pytest(
    tests: list[str], *, disabled: str = "", stop: bool, create_db: bool
) -> tuple[list[str], int, str]:
    """(failed test ids, times the disabled lock was reached, pytest's output tail)."""
    with tempfile.TemporaryDirectory(prefix="locks-") as tmp:
        junit, hits = Path(tmp, "junit.xml"), Path(tmp, "hits")
        env = {**os.environ, "LOCKS_DISABLED": disabled, "LOCKS_HITS": str(hits), "RACE_TIMEOUT": "60"}
        args = [*PYTEST, f"--junitxml={junit}", "--create-db" if create_db else "--reuse-db"]
        out = subprocess.run(
            [*args, *(["-x"] if stop else []), *tests], cwd=ROOT, env=env, capture_output=True, text=True
        )
        failed = []
        if junit.exists():
            for case in ET.parse(junit).getroot().iter("testcase"):
                if case.find("failure") is not None or case.find("error") is not None:
                    path = case.get("classname", "").replace(".", "/")
                    failed.append(f"{path}.py::{case.get('name')}")
        reached = 0
        if hits.exists():
            reached = sum(int(line.split("\t")[1]) for line in hits.read_text().splitlines() if line)
        if out.returncode not in (0, 1) and not failed:  # a crash, not a failing test
            failed.append(f"pytest exited {out.returncode}")
        tail = "\n".join((out.stdout + out.stderr).splitlines()[-30:])
        return failed, reached, tail


def sources(tests: list[str]) -> dict[str, str]:
    """Each test function's source text, by node id without parameters."""
    found = {}
    for path in {test.split("::")[0] for test in tests}:
        text = (ROOT / path).read_text(encoding="utf-8")
        module = ast.parse(text).body
        constants = {  # NAME = "path::function": a test naming NAME names the lock
            target.id: node.value.value
            for node in module
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
            for target in node.targets
            if isinstance(target, ast.Name) and isinstance(node.value.value, str)
        }
        for node in module:
            if isinstance(node, ast.FunctionDef):
                segment = ast.get_source_segment(text, node) or ""
                named = [value for name, value in constants.items() if re.search(rf"\b{name}\b", segment)]
                found[f"{path}::{node.name}"] = "\n".join([segment, *named])
    return found


def ordered(tests: list[str], site: LockSite, remembered: list[str], source: dict[str, str]) -> list[str]:
    """Most likely to fail first: what failed last time, the tests naming the lock (their control
    turns it off), the tests of the lock's app, the rest."""
    app = site.path.split("/")[0]
    sub = site.path.split("/")[1] if site.path.count("/") > 1 else ""

    def rank(test: str) -> tuple[int, int]:
        if test in remembered:
            return (0, remembered.index(test))
        if re.search(rf"{re.escape(site.id)}(?![\w.#])", source.get(test.split("[")[0], "")):
            return (1, 0)
        near = test.startswith(f"tests/{app}/") or (sub and test.startswith(f"tests/{sub}/"))
        return (2 if near else 3, 0)

    return sorted(tests, key=rank)  # stable: collection order within a rank


def _stop(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt  # subprocess.run then kills the pytest it is running


def main() -> int:
    signal.signal(signal.SIGTERM, _stop)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--all", action="store_true", help="every failing test per lock, not the first")
    parser.add_argument("--lock", default="", help="only the locks whose id or file:line contains this")
    parser.add_argument("--no-baseline", action="store_true", help="skip the run with every lock on")
    args = parser.parse_args()

    sites = [s for s in lock_sites() if args.lock in s.id or args.lock in str(s)]
    tests = collect()
    source = sources(tests)
    print(f"locks: {len(sites)} locks, {len(tests)} concurrency tests", file=sys.stderr, flush=True)
    create_db = True
    if not args.no_baseline:
        failed, _reached, tail = pytest(tests, stop=False, create_db=True)
        create_db = False
        if failed:
            print(tail, file=sys.stderr)
            sys.exit(f"locks: with every lock on these fail, so the table would mean nothing: {failed}")
    remembered: dict[str, list[str]] = json.loads(CACHE.read_text()) if CACHE.exists() else {}
    rows: list[tuple[LockSite, list[str], int]] = []
    for n, site in enumerate(sites, 1):
        started = time.monotonic()
        run = ordered(tests, site, remembered.get(site.id, []), source)
        failed, reached, tail = pytest(run, disabled=site.id, stop=not args.all, create_db=create_db)
        create_db = False
        rows.append((site, failed, reached))
        if failed:
            remembered[site.id] = failed
        status = ", ".join(failed) if failed else "NO TEST FAILS"
        seconds = time.monotonic() - started
        print(
            f"locks: [{n}/{len(sites)}] {site} {site.id}: {status} ({seconds:.0f}s)",
            file=sys.stderr,
            flush=True,
        )
        if failed and failed[0].startswith("pytest exited"):
            print(tail, file=sys.stderr)
    CACHE.parent.mkdir(exist_ok=True)
    CACHE.write_text(json.dumps(remembered, indent=1, sort_keys=True))

    print("| lock | code | fails without it |")
    print("|---|---|---|")
    for site, failed, reached in rows:
        proof = "<br>".join(f"`{t}`" for t in failed) if failed else "**none**"
        if not reached:
            proof += " (never reached by a concurrency test)"
        print(f"| `{site}` `{site.id.split('::')[1]}` | `{site.code}` | {proof} |")
    unproven = [site for site, failed, _ in rows if not failed]
    if unproven:
        print(
            f"\n{len(unproven)} of {len(rows)} locks have no test that fails without them:", file=sys.stderr
        )
        for site in unproven:
            print(f"  {site} {site.id}", file=sys.stderr)
        return 1
    print(f"\nAll {len(rows)} locks proven.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
