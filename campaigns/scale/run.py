"""The seed, phase by phase: the programme (ORM), members (COPY), their activity (generated per
block of members and COPYed by the writer thread), then sequences, reward stock and ANALYZE."""

from __future__ import annotations

import datetime
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone, translation

from benefits.models import Reward
from campaigns.scale.blocks import Ids, Writer, sequences_reset
from campaigns.scale.facts import EVENTS_PER_PURCHASE, Facts
from campaigns.scale.life import Life
from campaigns.scale.people import IDENTITY_COLUMNS, MEMBER_COLUMNS, People, people_chunks
from campaigns.scale.programme import programme_ensure
from campaigns.scale.render import NUMBERED, TABLES, block_copies
from campaigns.scale.world import World
from members.models import Member
from points.policy import add_months

MEMBER_CHUNK = 20_000
BLOCK = 5_000  # members whose activity is generated, numbered and written together


class SeedRefused(Exception):
    """The database is not one this seeder writes into (not PostgreSQL, or not empty)."""


@dataclass
class Report:
    counts: dict[str, int] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)
    peak_mib: float = 0.0

    def lines(self) -> list[str]:
        out = [f"  {phase:<12} {seconds:8.1f} s" for phase, seconds in self.phases.items()]
        out += [f"  {table:<26} {count:>12,}" for table, count in sorted(self.counts.items())]
        out.append(f"  peak memory {self.peak_mib:,.0f} MiB")
        return out


def _peak() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _superuser() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        return bool(cursor.fetchone()[0])


def seed_check() -> None:
    """Refuse, saying why, a database this seeder must not write into."""
    if connection.vendor != "postgresql":
        raise SeedRefused(
            f"seed_scale writes with PostgreSQL's COPY and runs on PostgreSQL only (this database is "
            f"{connection.vendor}). Point DATABASE_URL at an empty, migrated PostgreSQL database."
        )
    if Member.objects.exists():
        raise SeedRefused(
            "seed_scale fills an empty programme and there are members already: it would not know "
            "which numbers, phones and balances are taken. Use a new database (e.g. "
            "`python tests/pgcluster.py -- ...` gives a throwaway one), migrate it, and seed that."
        )


def seed(
    *,
    members: int,
    purchases: int,
    years: int = 2,
    seed: int = 1,
    stores: int = 60,
    now: datetime.datetime | None = None,
    block: int = BLOCK,
    every_award: bool = False,
    fast: bool = True,
    say: Callable[[str], None] = lambda line: None,
) -> Report:
    """Seed an empty programme with ``members`` members and about ``purchases`` purchases over
    the last ``years`` years (and everything they set off). Importable by benchmarks:
    ``from campaigns.scale import seed; seed(members=100_000, purchases=1_000_000)``.

    ``every_award``: an award with its lines for every purchase and event, as the pipeline
    writes them (about 40% more rows); by default only the awards that hold a campaign's
    line (campaign results need those), upgrades and their refunds. ``fast``: on a superuser
    connection, COPY without foreign-key checks (``session_replication_role = replica``)."""
    seed_check()
    report, started = Report(), time.monotonic()
    now = (now or timezone.now()).replace(microsecond=0)
    start = add_months(now, -12 * years)
    with translation.override(settings.LANGUAGE_CODE):
        with transaction.atomic():
            programme = programme_ensure(stores=stores, start=start, now=now)
        report.phases["programme"] = time.monotonic() - started
        ids = Ids([*NUMBERED, "points_account", "members_member", "members_identity"])
        people = People(
            seed=seed,
            total=members,
            first_id=ids.take("members_member", members),
            start=int(start.timestamp()),
            now=int(now.timestamp()),
            programme=programme,
        )
        unchecked = fast and _superuser()
        writer = Writer(unchecked=unchecked)
        try:
            buys, signs = _members(people, ids, writer, say)
            writer.close()  # activity refers to members: they are committed first
            report.counts.update(writer.counts)
            report.phases["members"] = time.monotonic() - started - sum(report.phases.values())
            writer = Writer(unchecked=unchecked)
            world = World(
                programme=programme,
                start=people.start,
                now=people.now,
                tz=timezone.get_current_timezone(),
                seed=seed,
                every_award=every_award,
            )
            facts = Facts(
                programme=programme,
                start=people.start,
                now=people.now,
                purchase_scale=purchases / buys if buys else 0,
                event_scale=purchases * EVENTS_PER_PURCHASE * 0.8 / signs if signs else 0,
                tz=world.tz,
            )
            _activity(people, facts, world, ids.take("points_account", 2 * members), ids, writer, block, say)
            writer.close()
        except BaseException:
            writer.abandon()
            raise
        report.counts.update(writer.counts)
        report.phases["activity"] = time.monotonic() - started - sum(report.phases.values())
    _finish(world)
    report.phases["analyze"] = time.monotonic() - started - sum(report.phases.values())
    report.phases["total"] = time.monotonic() - started
    report.peak_mib = _peak()
    return report


def _members(people: People, ids: Ids, writer: Writer, say: Callable[[str], None]) -> tuple[float, float]:
    buys = signs = 0.0
    done = 0
    for members, identities, chunk_buys, chunk_signs in people_chunks(people, MEMBER_CHUNK):
        first = ids.take("members_identity", len(identities))
        numbered = [(first + n, *row) for n, row in enumerate(identities)]
        # identities refer to members: the second connection writes them once members are in
        writer.put(
            (
                [("members_member", MEMBER_COLUMNS, members)],
                [("members_identity", IDENTITY_COLUMNS, numbered)],
            )
        )
        buys, signs, done = buys + chunk_buys, signs + chunk_signs, done + len(members)
        if done % (10 * MEMBER_CHUNK) == 0 or done == people.total:
            say(f"members {done:>12,} / {people.total:,}")
    return buys, signs


def _activity(
    people: People,
    facts: Facts,
    world: World,
    first_account: int,
    ids: Ids,
    writer: Writer,
    block: int,
    say: Callable[[str], None],
) -> None:
    started, every = time.monotonic(), max(block, people.total // 20 // block * block)
    for first in range(0, people.total, block):
        for index in range(first, min(first + block, people.total)):
            Life(world, people.person(index), first_account + 2 * index).live(facts, people)
        done = world.new_block()
        writer.put(block_copies(done, ids, world.now))
        end = min(first + block, people.total)
        if end % every == 0 or end == people.total:
            rate = end / (time.monotonic() - started)
            say(f"activity {end:>11,} / {people.total:,} members ({rate:,.0f}/s, peak {_peak():,.0f} MiB)")


def _finish(world: World) -> None:
    """Sequences after the largest ids, the rewards' stock less what was redeemed, statistics."""
    sequences_reset([*NUMBERED, "points_account", "members_member", "members_identity"])
    for reward in world.programme.rewards:
        if reward.stock is not None and (taken := reward.stock - world.stock[reward.id]):
            Reward.objects.filter(pk=reward.id).update(stock=F("stock") - taken)
    with connection.cursor() as cursor:
        for table in [*TABLES, "members_member", "members_identity"]:
            cursor.execute(f"ANALYZE {table}")
