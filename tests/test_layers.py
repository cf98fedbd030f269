"""The layering of docs/architecture.md, checked on the source: every ``import`` (also inside
functions, where an upward import hides best) goes down or sideways, never up.

    config.common  <-  members  <-  points  <-  tiers  <-  benefits  <-  campaigns  <-  config

Inside members, the member domain and what members did (``members.purchases``: which store's
members staff may see depends on where they bought) are one layer; the scoring of members (RFM,
lifecycle stages, read from what they did) sits on it; the import framework and the
partner-API framework sit above those: the member domain's own modules import neither. The members
app's interfaces (``members/api.py``, ``members/admin.py``) are built on the partner-API
framework and may use it.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: (package prefix, rank): the longest matching prefix decides a module's rank.
LAYERS = [
    ("config.common", 0),
    ("members", 1),
    ("members.purchases", 1),
    ("members.scoring", 2),
    ("members.imports", 3),
    ("members.partners", 3),
    # the message centre: its inbox is served through the partner-API framework; every app from
    # points up may queue a message in its own transaction
    ("members.messaging", 3),
    # partners' webhooks: an outbox like the message centre's, scoped by the partners' members
    ("members.webhooks", 3),
    # OneID: a merge moves what the member domain and the partners hold; the apps above
    # register their own steps with it
    ("members.oneid", 3),
    # PIPL: what every members subsystem holds about a member, copied or erased; the apps above
    # register what they hold
    ("members.privacy", 3),
    # referrals: enrolments through the API, the import and the admin link a new member to its
    # referrer; a merge and an erasure run its steps
    ("members.referrals", 3),
    ("points", 4),
    # households move points between members' accounts with the ledger's own pieces: part of it
    ("points.households", 4),
    # points as cash: holds are spends and refunds of the ledger, captured with a purchase
    ("points.cash", 4),
    ("tiers", 5),
    ("benefits", 6),
    ("campaigns", 7),
    ("config", 8),
]
#: The members app's interfaces: thin layers over the member domain that use the frameworks.
MEMBER_INTERFACES = {
    "members.api",
    "members.api_serializers",
    "members.admin",
    "members.management.commands.seed_demo",
}


def rank(module: str) -> int | None:
    best: tuple[int, int] | None = None
    for prefix, value in LAYERS:
        matches = module == prefix or module.startswith(prefix + ".")
        if matches and (best is None or len(prefix) > best[0]):
            best = (len(prefix), value)
    return None if best is None else best[1]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            # ``from campaigns import pipeline`` imports a module of campaigns
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def source_files() -> list[Path]:
    files = []
    for package in ("config", "members", "points", "tiers", "benefits", "campaigns"):
        files += [
            f for f in sorted((ROOT / package).rglob("*.py")) if "migrations" not in f.relative_to(ROOT).parts
        ]
    return files


def upward_imports() -> list[str]:
    problems = []
    for path in source_files():
        module = module_name(path)
        own = rank(module)
        if module in MEMBER_INTERFACES:
            own = rank("members.partners")
        for line, imported in imports_of(path):
            theirs = rank(imported)
            if own is None or theirs is None:
                continue  # the standard library and third-party packages
            if theirs > own:
                problems.append(f"{path.relative_to(ROOT)}:{line} {module} imports {imported}")
    return problems


def test_no_module_imports_a_layer_above_its_own():
    assert upward_imports() == []


def test_the_check_sees_an_upward_import_inside_a_function(tmp_path, monkeypatch):
    # the check itself must be able to fail: a lazy import of points from members is caught
    fake_root = tmp_path
    (fake_root / "members").mkdir()
    (fake_root / "members" / "services.py").write_text("def f():\n    from points.services import x\n")
    for package in ("config", "points", "tiers", "benefits", "campaigns"):
        (fake_root / package).mkdir()
    monkeypatch.setattr(sys.modules[__name__], "ROOT", fake_root)
    assert upward_imports() == [
        "members/services.py:2 members.services imports points.services",
        "members/services.py:2 members.services imports points.services.x",
    ]


def test_shared_building_blocks_import_no_app():
    for path in (ROOT / "config" / "common").rglob("*.py"):
        for line, imported in imports_of(path):
            assert rank(imported) in (None, 0), f"{path.relative_to(ROOT)}:{line} imports {imported}"


def test_the_members_package_holds_only_the_member_domain_and_named_subsystems():
    """Top-level modules of members/ are about members; subsystems live in named sub-packages."""
    allowed = {
        "__init__",
        "models",
        "services",
        "selectors",
        "errors",
        "phones",
        "masking",
        "demo",
        "tagging",
        "restrictions",
    }
    allowed |= {"admin", "admin_helpers", "api", "api_serializers", "apps", "resources"}  # its interfaces
    modules = {p.stem for p in (ROOT / "members").glob("*.py")}
    assert modules <= allowed, modules - allowed
    packages = {p.name for p in (ROOT / "members").iterdir() if (p / "__init__.py").exists()}
    assert packages == {
        "purchases",
        "scoring",
        "imports",
        "partners",
        "messaging",
        "webhooks",
        "oneid",
        "privacy",
        "referrals",
        "management",
        "migrations",
    }
