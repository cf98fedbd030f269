"""Create, revoke and list the API keys of a partner from a shell (the admin does the same)."""

from __future__ import annotations

import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from members.partners import services
from members.partners.models import Partner, PartnerKey


def local_time(moment: datetime.datetime | None) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}" if moment else "-"


def expiry(text: str) -> datetime.datetime:
    """YYYY-MM-DD: the key stops working at the start of that day, local time."""
    try:
        day = datetime.date.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(f"--expires must be a date as YYYY-MM-DD, not {text!r}") from exc
    moment = timezone.make_aware(datetime.datetime.combine(day, datetime.time()))
    if moment <= timezone.now():
        raise CommandError(f"--expires {text} is not in the future")
    return moment


class Command(BaseCommand):
    help = (
        "API keys of partners: `create PARTNER` prints a new key once, `revoke PREFIX` stops a key "
        "for good, `list PARTNER` shows a partner's keys (never the keys themselves)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="{create,revoke,list}")
        create = actions.add_parser("create", help="create a key and print it (once)")
        create.add_argument("partner", help="the partner's code")
        create.add_argument("--name", default="command line", help="where the key is used")
        create.add_argument(
            "--expires", metavar="YYYY-MM-DD", help="the key stops working at the start of that day"
        )
        revoke = actions.add_parser("revoke", help="revoke a key (cannot be undone)")
        revoke.add_argument("prefix", help="the key's prefix (the part before the dot)")
        listing = actions.add_parser("list", help="a partner's keys")
        listing.add_argument("partner", help="the partner's code")

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"_{options['action']}")(options)

    def _partner(self, code: str) -> Partner:
        partner = Partner.objects.filter(code=code).first()
        if partner is None:
            codes = ", ".join(Partner.objects.values_list("code", flat=True)) or "none"
            raise CommandError(f"Unknown partner {code!r}; known partners: {codes}")
        return partner

    def _create(self, options: dict[str, Any]) -> None:
        partner = self._partner(options["partner"])
        max_length = PartnerKey._meta.get_field("name").max_length
        assert max_length is not None  # a CharField's
        if not options["name"].strip() or len(options["name"]) > max_length:
            raise CommandError(f"--name must be 1 to {max_length} characters")
        expires_at = expiry(options["expires"]) if options["expires"] else None
        key, text = services.key_create(partner=partner, name=options["name"], expires_at=expires_at)
        until = f", expires {local_time(expires_at)}" if expires_at else ""
        self.stdout.write(f"New API key {key.prefix} for {partner} ({key.name!r}{until}):")
        self.stdout.write(text)
        self.stdout.write(self.style.WARNING("Store it now: it will not be shown again."))
        if not partner.is_active:
            self.stdout.write(self.style.WARNING(f"{partner} is inactive: its keys work once it is active."))

    def _revoke(self, options: dict[str, Any]) -> None:
        prefix = options["prefix"].partition(".")[0]  # a whole key pasted by mistake names its prefix too
        key = PartnerKey.objects.select_related("partner").filter(prefix=prefix).first()
        if key is None:
            raise CommandError(f"No API key has the prefix {prefix!r}")
        if key.revoked:
            self.stdout.write(f"Key {key.prefix} of {key.partner} was already revoked.")
            return
        services.key_revoke(key=key)
        self.stdout.write(f"Revoked key {key.prefix} ({key.name!r}) of {key.partner}.")

    def _list(self, options: dict[str, Any]) -> None:
        partner = self._partner(options["partner"])
        keys = list(partner.keys.order_by("-created"))
        if not keys:
            self.stdout.write(f"{partner} has no keys.")
            return
        rows = [("PREFIX", "NAME", "CREATED", "EXPIRES", "REVOKED")]
        rows += [
            (k.prefix, k.name, local_time(k.created), local_time(k.expiry_date), "yes" if k.revoked else "no")
            for k in keys
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            self.stdout.write(
                "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            )
