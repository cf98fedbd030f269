"""``manage.py reconcile_points``: prove the ledger's invariants; exit 1 listing what breaks them."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from points.models import Account
from points.selectors import CHECKS, ledger_problems


class Command(BaseCommand):
    help = "Check every points invariant over all accounts (one SQL pass); non-zero exit if any fails."

    def handle(self, *args: Any, **options: Any) -> None:
        problems = ledger_problems()
        total = Account.objects.count()
        if not problems:
            self.stdout.write(self.style.SUCCESS(f"{total} accounts reconciled: every invariant holds."))
            return
        numbers = dict(Account.objects.filter(pk__in=problems).values_list("pk", "member__member_number"))
        for account_id, failed in sorted(problems.items()):
            for code in failed:
                self.stdout.write(f"account {account_id} (member {numbers.get(account_id)}): {CHECKS[code]}")
        raise CommandError(f"{len(problems)} of {total} accounts break the ledger invariants.")
