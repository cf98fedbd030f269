"""A loyalty programme at scale for benchmarks: ``manage.py seed_scale`` or ``seed(...)``.

Fills an EMPTY PostgreSQL database (migrated) with stores, members and identities, and two
(``years``) of what members did and what it set off: purchases, refunds and behaviour events,
their awards and award lines, points ledger entries, lots and allocations with consistent
account balances (``manage.py reconcile_points`` finds nothing), tier statuses and changes,
coupons, reward redemptions, campaign participations with control groups. Rows are generated in
Python (seeded ``random``) and written with COPY, a block of members at a time, so memory stays
bounded whatever the size.

Modules, by subdomain: ``programme`` (the few ORM rows: stores, ladder, benefits, campaigns),
``people`` (members), ``facts`` (what each member did), ``life`` (replaying it as the pipeline
would), ``ledger`` (one points account), ``world`` (what members share), ``blocks`` and
``render`` (numbering and COPY), ``run`` (the phases).
"""

from campaigns.scale.run import Report, SeedRefused, seed

__all__ = ["Report", "SeedRefused", "seed"]
