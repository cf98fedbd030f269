"""The two locks of the README's "Development": production installs ``requirements.lock`` and gets
no test or lint tool; development installs ``requirements-dev.lock``, which pins every shared
package to the very version production runs (``make lock`` compiles it constrained by the first).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9._-]+)==(\S+)", re.MULTILINE)


def _name(requirement: str) -> str:
    """``django-stubs[compatible-mypy]>=5.2`` -> ``django-stubs`` (PEP 503 normalised)."""
    bare = re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", bare).lower()


def _pins(lock: str) -> dict[str, str]:
    return {_name(name): version for name, version in PIN.findall((ROOT / lock).read_text())}


def test_production_lock_has_no_dev_tool_and_dev_lock_has_all() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    dev_tools = {_name(r) for r in project["optional-dependencies"]["dev"]}
    production, development = _pins("requirements.lock"), _pins("requirements-dev.lock")

    assert {"pytest", "ruff", "mypy"} <= dev_tools
    assert dev_tools & production.keys() == set()
    assert dev_tools <= development.keys()
    assert {_name(r) for r in project["dependencies"]} <= production.keys()


def test_dev_lock_pins_what_production_pins() -> None:
    production, development = _pins("requirements.lock"), _pins("requirements-dev.lock")

    assert {name: development.get(name) for name in production} == production


def test_every_pin_has_a_hash() -> None:
    for lock in ("requirements.lock", "requirements-dev.lock"):
        text = (ROOT / lock).read_text()
        assert len(PIN.findall(text)) > 40
        # Each pin's entry runs until the next pin; pip --require-hashes refuses one without.
        for entry in re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2]):
            assert "--hash=sha256:" in entry, (lock, entry.splitlines()[0])
