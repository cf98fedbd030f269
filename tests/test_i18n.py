"""The admin speaks zh-hans by default and English on request; every label of ours is translated."""

from __future__ import annotations

from pathlib import Path

import polib
import pytest
from django.urls import reverse

from tests.conftest import login

LOCALE = Path(__file__).resolve().parent.parent / "locale" / "zh_Hans" / "LC_MESSAGES"


def test_login_page_is_chinese_by_default(client, db):
    page = client.get("/admin/login/").content.decode()
    assert "会员忠诚度管理后台" in page and "用户名" in page and "登录" in page


def test_english_on_request(client, db):
    page = client.get("/admin/login/", headers={"accept-language": "en"}).content.decode()
    assert "Loyalty back office" in page and "Username" in page


def test_member_admin_labels_are_translated(client, operator, member):
    page = login(client, operator).get(reverse("admin:members_member_changelist")).content.decode()
    for label in ["会员编号", "注册渠道", "注册门店", "状态"]:
        assert label in page


def test_every_message_is_translated_and_compiled():
    po = polib.pofile(str(LOCALE / "django.po"))
    untranslated = [e.msgid for e in po if not e.msgstr or "fuzzy" in e.flags]
    assert untranslated == []
    compiled = {(e.msgctxt, e.msgid): e.msgstr for e in polib.mofile(str(LOCALE / "django.mo")) if e.msgid}
    assert compiled == {(e.msgctxt, e.msgid): e.msgstr for e in po if not e.obsolete}, "run `make messages`"


@pytest.mark.parametrize("path", ["members", "points", "tiers", "benefits", "campaigns"])
def test_makemessages_would_find_nothing_new(path):
    """Every gettext string in the code is in the catalogue (a new label needs a translation)."""
    import re

    source = Path(__file__).resolve().parent.parent / path
    po_ids = {e.msgid for e in polib.pofile(str(LOCALE / "django.po"))}
    pattern = re.compile(r"""\b_\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""")
    missing = []
    for file in source.rglob("*.py"):
        if "migrations" in file.parts:
            continue
        for match in pattern.finditer(file.read_text("utf-8")):
            msgid = (match.group(1) or match.group(2)).replace('\\"', '"').replace("\\'", "'")
            if msgid not in po_ids:
                missing.append(f"{file.name}: {msgid}")
    assert missing == []
