"""Every admin page reads in Chinese in zh-hans (the default language): no English word in the
visible text of any page an operator or an administrator opens, besides proper names, units
and codes (``ALLOWED``) and the data itself (usernames, codes typed by people).

The pages are every URL registered in the admin site (tests/admin_walk.py): changelists, add
and change forms, history and past versions, exports, custom views.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import polib
import pytest
from django.contrib.auth.models import Group, User

from campaigns.journeys.models import Journey
from members.imports.models import ImportProfile
from members.messaging.models import Template
from members.messaging.rendering import VARIABLES
from members.partners.models import Grant, Partner, PartnerKey
from members.purchases.models import Purchase
from members.webhooks.models import WebhookEvent
from points.models import PointType
from tests.admin_walk import admin_pages, visible_text
from tests.conftest import login
from tests.walk_data import WalkData, build
from tiers.models import Plan, Tier

pytestmark = pytest.mark.django_db

#: English that stays English in Chinese pages: names, units and codes people use as they are.
ALLOWED = {
    # units, currencies, file formats and extensions, encodings (all capitals are skipped anyway)
    *["CNY", "CSV", "XLSX", "TSV", "UTF", "BOM", "GBK", "GB", "csv", "xlsx"],
    # ids, channels and products known by these names in China too ("App" is what people call it)
    *[
        "SKU",
        "OpenID",
        "UnionID",
        "AppID",
        "WeChat",
        "API",
        "ID",
        "VIP",
        "POS",
        "QR",
        "SMS",
        "OTP",
        "URL",
        "JSON",
        "PIPL",
        "Excel",
        "WPS",
        "App",
        "Webhook",
    ],
    # keys named on the keyboard (Django's "hold down Control, or Command on a Mac"; the admin
    # theme's search closes with "esc")
    *["Control", "Command", "Mac", "esc"],
    # the language menu names each language in itself, beside its code
    *["English", "en"],
}

#: Text Django writes in English whatever the language, removed before looking for words.
IGNORED_TEXT = [
    # Django names a row of a many-to-many table so (delete confirmations of users and roles)
    re.compile(r"\b\w+_\w+ object \(\d+\)"),
    # Django 5.2 builds this help text in English at start-up (AdminPasswordChangeForm joins a
    # lazy text to a plain one): no catalogue reaches it; administrators' password page only
    re.compile(re.escape("If disabled, the current password for this user will be lost.")),
    # a user's password summary: the first characters of a random salt and hash ("哈希: aIXB+c****"
    # reads as the word "aIXB" now and then); data, like usernames
    re.compile(r"(?:盐|哈希)\n: \S+"),
]

#: A word of letters only, not part of a code (``walk-a.csv``, ``pos_receipts_gbk``, ``a@b.c``,
#: a masked ``oU****01``). All capitals are codes and acronyms (coupon codes, ``SKU``): not words.
WORD = re.compile(r"(?<![\w@./:#*-])(?![A-Z]+\b)[A-Za-z]{2,}(?![\w@./:#*-])")


@pytest.fixture
def walk(make_user) -> WalkData:
    return build(make_user)


def data_words() -> set[str]:
    """Words of the data itself: what people named or coded in English (bilingual role names,
    usernames, codes, partner names)."""
    texts = list(User.objects.values_list("username", flat=True))
    texts += list(Group.objects.values_list("name", flat=True))
    texts += list(PointType.objects.values_list("code", flat=True))
    texts += list(ImportProfile.objects.values_list("code", flat=True))
    texts += [f"{code} {name}" for code, name in Partner.objects.values_list("code", "name")]
    texts += list(Purchase.objects.values_list("source", flat=True).distinct())
    texts += list(ImportProfile.objects.values_list("source", flat=True))
    texts += list(Tier.objects.values_list("code", flat=True))
    texts += list(Plan.objects.values_list("code", flat=True))
    texts += list(Grant.values)  # the API's names of the grants, shown beside their labels
    texts += list(PartnerKey.objects.values_list("name", flat=True))
    texts += list(Template.objects.values_list("code", flat=True))
    texts += list(Journey.objects.values_list("code", flat=True))
    # the webhook delivery log shows what was sent: the API's JSON, with its English keys
    texts += list(WebhookEvent.objects.values_list("body", flat=True))
    # template variables are codes operators type into templates, as in Chinese SMS consoles' ${code}
    texts += list(VARIABLES)
    for columns, statuses in ImportProfile.objects.values_list("columns", "statuses"):
        # the header names and status words of the files a profile reads, English files too
        texts += [alias for aliases in columns.values() for alias in aliases] + list(statuses)
    words = {word for text in texts for word in WORD.findall(text)}
    # the admin theme's header starts the name of the object on the page with a capital
    return words | {word[:1].upper() + word[1:] for word in words}


def english_words(text: str, allowed: set[str]) -> list[str]:
    for ignored in IGNORED_TEXT:
        text = ignored.sub("", text)
    return sorted({word for word in WORD.findall(text) if word not in allowed})


def walk_in_chinese(client, user, named) -> list[str]:
    allowed = ALLOWED | data_words()
    login(client, user)
    found: list[str] = []
    for page in admin_pages(named):
        response = client.get(page.url, follow=True)
        assert response.status_code < 500, page.url
        if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
            continue
        words = english_words(visible_text(response), allowed)
        if words:
            found.append(f"{page.url}: {' '.join(words[:12])}")
    return found


def test_every_admin_page_an_operator_opens_is_chinese(client, walk):
    found = walk_in_chinese(client, walk.operator, walk.named)
    assert found == [], "\n".join(found)


def test_every_admin_page_an_administrator_opens_is_chinese(client, walk):
    found = walk_in_chinese(client, walk.administrator, walk.named)
    assert found == [], "\n".join(found)


def test_the_admin_widgets_speak_chinese(client, operator):
    """Texts the admin's JavaScript writes (the two-list picker of tags, calendars): every
    message of Django's admin scripts has a Chinese translation in the zh-hans catalogue."""
    import django

    english = Path(django.__file__).parent / "contrib/admin/locale/en/LC_MESSAGES/djangojs.po"
    wanted = {
        f"{entry.msgctxt}\x04{entry.msgid}" if entry.msgctxt else entry.msgid
        for entry in polib.pofile(str(english))
        if entry.msgid
    }
    script = login(client, operator).get("/admin/jsi18n/").content.decode()
    catalog = json.loads(re.search(r"const newcatalog = (\{.*?\});\n", script, re.S).group(1))
    missing = sorted(msgid for msgid in wanted if not catalog.get(msgid))
    assert missing == []


def test_the_language_menu_names_each_language_in_itself(client, operator):
    page = login(client, operator).get("/admin/").content.decode()
    menu = " ".join(visible_text_of(page, "language").split())
    assert "English en" in menu and "简体中文 zh-hans" in menu and "英语" not in page


def visible_text_of(page: str, name: str) -> str:
    """The text of the buttons of the forms that post ``name`` (the language menu's)."""
    forms = re.findall(r"<form[^>]*>.*?</form>", page, re.S)
    chosen = [form for form in forms if f'name="{name}"' in form]
    return " ".join(re.sub(r"<[^>]+>", " ", form) for form in chosen)


def test_a_campaign_history_reads_in_chinese(client, operator, make_user):
    """Statuses by their label, times in local time, an empty approver as "-"."""
    from decimal import Decimal

    from django.urls import reverse
    from django.utils import translation

    from campaigns.models import Campaign
    from campaigns.services import lifecycle_transition
    from config.common.roles import Role
    from tests.campaigns.conftest import NOW, campaign
    from tests.tiers.conftest import local

    author = make_user(Role.OPERATOR, "author")
    approver = make_user(Role.APPROVER, "checker")
    draft = campaign(
        status=Campaign.Status.DRAFT,
        created_by=author,
        multiplier=Decimal(2),
        starts_at=local(2026, 12, 1),
        ends_at=local(2026, 12, 13),
    )
    with translation.override("zh-hans"):  # as in the admin: the reason is kept as written
        for action, actor in [("submit", author), ("approve", approver), ("schedule", author)]:
            lifecycle_transition(draft, action, actor=actor, at=NOW)
    response = login(client, operator).get(reverse("admin:campaigns_campaign_history", args=[draft.pk]))
    text = visible_text(response)
    with translation.override("zh-hans"):
        submitted, approved, scheduled = (
            str(status.label)
            for status in (Campaign.Status.SUBMITTED, Campaign.Status.APPROVED, Campaign.Status.SCHEDULED)
        )
    assert f"{submitted} → {approved}" in " ".join(text.split()) or f"{submitted}\n" in text
    assert approved in text and scheduled in text and "approved" not in text
    assert "2026-11-11 20:00:00" in text  # approved at, Shanghai time (12:00 UTC)
    assert "Deleted" not in text and "None" not in text and "pk=" not in text
    assert english_words(text, ALLOWED | data_words()) == []
