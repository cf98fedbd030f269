"""One error contract under /api/: every refusal is JSON ``{code, message, fields}`` in the
request's language, with the status the docs give; and every code the server can send is in
docs/api.md's table."""

from __future__ import annotations

import base64
import inspect
import json
import re
import uuid
from pathlib import Path

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework import exceptions

from config.common.errors import BusinessRuleError
from members.partners.services import member_link
from tests.api.conftest import make_partner
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def is_error_body(response) -> bool:
    assert response["Content-Type"] == "application/json", (response.status_code, response.content[:200])
    data = json.loads(response.content)
    return set(data) == {"code", "message", "fields"} and isinstance(data["fields"], dict)


@pytest.fixture
def member(partner_a):
    member = MemberFactory()
    member_link(partner=partner_a.partner, member=member)
    return member


# --- the two 500s ----------------------------------------------------------------------------


def lists(number: str) -> list[str]:
    return [
        "/api/v1/members/",
        "/api/v1/purchases/",
        "/api/v1/redemptions/",
        "/api/v1/rewards/",
        f"/api/v1/members/{number}/ledger/",
        f"/api/v1/members/{number}/coupons/",
    ]


def test_a_crafted_cursor_is_a_400_on_all_six_lists(partner_a, member):
    """The cursor's position was put in the query as it came: ``p=abc`` against an id was a 500."""
    crafted = base64.b64encode(b"p=abc").decode()
    for url in lists(member.member_number):
        for cursor in (crafted, "not base64!", "", base64.b64encode(b"p=99999999999999999999").decode()):
            response = partner_a.get(url, {"cursor": cursor})
            assert response.status_code == 400, (url, cursor, response.content)
            assert response.json()["code"] == "invalid"
            assert set(response.json()["fields"]) == {"cursor"}, (url, cursor)


def test_the_servers_own_cursors_and_page_sizes_still_work(partner_a, member):
    member_link(partner=partner_a.partner, member=MemberFactory())
    first = partner_a.get("/api/v1/members/", {"page_size": 1}).json()
    second = partner_a.get(first["next"]).json()
    assert len(first["results"]) == len(second["results"]) == 1
    assert first["results"][0]["member_number"] != second["results"][0]["member_number"]
    for size in ("0", "201", "-1", "1.5", "ten", ""):
        response = partner_a.get("/api/v1/members/", {"page_size": size})
        assert (response.status_code, set(response.json()["fields"])) == (400, {"page_size"}), size


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def post_operations() -> list[str]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return [path for path, operations in schema["paths"].items() if "post" in operations]


def test_json_nested_1000_deep_is_a_400_on_every_json_post(partner_a):
    """Python's JSON parser gives up with a RecursionError (it was a 500, on the idempotency
    fingerprint first). Paths naming an object that must exist first may say 404 before reading
    the body; every other POST reads it and says 400 ``parse_error``."""
    bodies = [nested(1000), '{"a":' * 1000 + "1" + "}" * 1000]
    read = 0
    for path in post_operations():
        url = re.sub(r"\{[^}]+\}", "1", path)
        for body in bodies:
            response = partner_a.generic(
                "POST", url, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())
            )
            assert is_error_body(response)
            assert response.status_code in (400, 404), (url, response.status_code)
            if "{" not in path:
                assert response.json()["code"] == "parse_error", url
                read += 1
    assert read >= 10  # members, purchases, events, preview, coupons validate and redeem


# --- every answer under /api/ is the error body -----------------------------------------------


@pytest.mark.parametrize("debug", [False, True])
def test_unknown_and_malformed_urls_are_json_404s(partner_a, settings, debug):
    settings.DEBUG = debug  # with DEBUG on, Django's own 404 page is HTML
    for url in (
        "/api/v1/nothing/",
        "/api/nothing",
        "/api/v1/rewards/abc/",
        "/api/v1/rewards/1.5/",
        "/api/v1/members/%00/",
        "/api/v1/members/" + "x" * 40 + "/",
        "/api/v1/purchases/a%2Fb/",
    ):
        response = partner_a.get(url)
        assert response.status_code == 404, url
        assert is_error_body(response), url
        assert response.json()["code"] == "not_found"


def test_a_url_without_its_slash_is_a_404_saying_so_not_a_redirect(partner_a, member):
    response = partner_a.post("/api/v1/events", {"member_number": member.member_number})
    assert response.status_code == 404
    assert is_error_body(response)
    assert response.json()["message"] == "Not found. The API's URLs end with a slash: /api/v1/events/"


def test_a_missing_method_is_405_with_allow_before_the_key_is_checked(partner_a, client):
    for method in ("delete", "put", "patch", "options", "trace"):
        response = partner_a.generic(method.upper(), "/api/v1/rewards/")
        assert response.status_code == 405, method
        assert is_error_body(response)
        assert response.json()["code"] == "method_not_allowed"
        assert response["Allow"] == "GET, HEAD"
    assert partner_a.post("/api/v1/members/lookup/", {})["Allow"] == "GET, HEAD"
    assert client.delete("/api/v1/purchases/").status_code == 405  # no key at all: still 405
    assert partner_a.get("/api/v1/events/")["Allow"] == "POST"


def test_the_schema_and_docs_pages_refuse_in_json_too(client):
    for method, url in (("POST", "/api/docs/"), ("DELETE", "/api/schema/"), ("GET", "/api/schema/?format=x")):
        response = client.generic(method, url, HTTP_ACCEPT_LANGUAGE="en")
        assert response.status_code in (404, 405), url
        assert is_error_body(response), url


def test_a_body_over_the_limit_is_413(partner_a, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    for url in ("/api/v1/events/", "/api/v1/preview/"):  # with and without Idempotency-Key
        response = partner_a.post(url, {"member_number": "x" * 5000})
        assert response.status_code == 413, url
        assert is_error_body(response)
        assert response.json()["code"] == "too_large"
        assert response.json()["message"] == "The request body is larger than 4 KB."


def test_other_media_types_and_accepts_are_refused_in_the_error_body(partner_a):
    form = partner_a.generic(
        "POST", "/api/v1/preview/", "a=b", content_type="application/x-www-form-urlencoded"
    )
    assert (form.status_code, form.json()["code"]) == (415, "unsupported_media_type")
    html = partner_a.get("/api/v1/rewards/", HTTP_ACCEPT="text/html")
    assert (html.status_code, html.json()["code"]) == (406, "not_acceptable")
    broken = partner_a.generic("POST", "/api/v1/preview/", "{", content_type="application/json")
    assert (broken.status_code, broken.json()["code"]) == (400, "parse_error")


def test_messages_follow_accept_language(client):
    """The grant refusal was translated once, at import: always in the default language."""
    _partner, key = make_partner("nogrants", "N001", grants=[])
    said = {}
    for language in ("en", "zh-hans"):
        headers = {"HTTP_AUTHORIZATION": f"Api-Key {key}", "HTTP_ACCEPT_LANGUAGE": language}
        said[language] = [
            client.get("/api/v1/rewards/", **headers).json()["message"],  # 403
            client.delete("/api/v1/rewards/", **headers).json()["message"],  # 405
            client.get("/api/v1/nothing/", **headers).json()["message"],  # 404
            client.get("/api/v1/rewards/", HTTP_ACCEPT_LANGUAGE=language).json()["message"],  # 401
        ]
    assert said["en"] == [
        "This key's partner is not granted this operation.",
        'Method "DELETE" not allowed.',
        "Not found.",
        "Authentication credentials were not provided.",
    ]
    assert said["zh-hans"][0] == "该密钥所属合作方未获授权执行此操作。"
    for en, zh in zip(said["en"], said["zh-hans"], strict=True):
        assert en != zh and re.search(r"[\u4e00-\u9fff]", zh), (en, zh)


# --- the docs' table is every code ----------------------------------------------------------


def codes_the_server_sends() -> set[str]:
    """Derived from the code, so a new one fails this until docs/api.md lists it:
    DRF's exceptions (each reaches the handler with its own code), the business rules'
    exception classes, and the codes the API's own modules write."""
    drf = {
        cls.default_code
        for _name, cls in inspect.getmembers(exceptions, inspect.isclass)
        if issubclass(cls, exceptions.APIException) and cls is not exceptions.APIException
    }
    drf.discard("invalid")  # ValidationError: answered as ours, "invalid"

    def subclasses(cls: type) -> set[type]:
        return {cls} | {s for sub in cls.__subclasses__() for s in subclasses(sub)}

    rules = {cls.code for cls in subclasses(BusinessRuleError)}
    # Abstract bases, never raised themselves; approval_error and review_decided come only from
    # the admin's maker-checker flows (points/services/adjustments.py, campaigns/earning/reviews.py),
    # which no API path calls.
    # merge_refused and erasure_refused likewise: merges and erasures are decided in the admin only.
    rules -= {
        "business_rule",
        "points_error",
        "benefit_error",
        "approval_error",
        "review_decided",
        "case_decided",  # risk cases are decided in the admin only (campaigns/risk/cases.py)
        "case_not_a_member",  # likewise
        "merge_refused",
        "erasure_refused",
        "referral_refused",  # the referrals' base: each refusal has its own code
        # programme changes are made and decided in the admin only (config/common/governance.py)
        "own_change",
        "change_not_waiting",
        "not_approver",
        "change_stale",
    }
    written = {"conflict"}  # from the services' ValidationError codes
    sources = [
        ROOT / "config" / "api.py",
        ROOT / "members" / "api.py",
        *(ROOT / "members" / "partners" / "api").glob("*.py"),
    ]
    sources += [ROOT / app / "api.py" for app in ("points", "tiers", "benefits", "campaigns")]
    sources += [ROOT / "tiers" / "plans_api.py"]  # selling plans, and the payment notice
    for source in sources:
        text = source.read_text()
        written |= set(re.findall(r'code="([a-z_]+)"', text))
        written |= set(re.findall(r'json_error\(\s*[^,]+,\s*"([a-z_]+)"', text))
        written |= set(re.findall(r'body\("([a-z_]+)"', text))
    # the trust rules' refusals (members.partners.codes), which the member endpoints answer
    trust = (ROOT / "members" / "partners" / "codes.py").read_text()
    written |= set(re.findall(r'TrustRefused\(\s*"([a-z_]+)"', trust))
    return drf | rules | written


def documented_codes() -> set[str]:
    text = (ROOT / "docs" / "api.md").read_text()
    table = text[text.index("## Errors") :]
    table = table[: table.index("\n## ", 1)]
    rows = [line for line in table.splitlines() if re.match(r"\| [45]\d\d \|", line)]
    return {code for row in rows for code in re.findall(r"`([a-z_]+)`", row.split("|")[2])}


def test_the_docs_table_lists_every_error_code():
    sent = codes_the_server_sends()
    assert {"parse_error", "unsupported_media_type", "method_not_allowed", "too_large"} <= sent
    assert sent - documented_codes() == set()
    assert documented_codes() - sent == set()  # nor one that no longer exists


def test_the_retention_of_stored_answers_is_stated_once():
    from members.partners.services import IDEMPOTENCY_TTL

    hours = int(IDEMPOTENCY_TTL.total_seconds() // 3600)
    schema = json.dumps(SchemaGenerator().get_schema(request=None, public=True))
    assert f"kept at least {hours} hours" in schema
    assert f"kept at least {hours} hours" in (ROOT / "docs" / "api.md").read_text()
    assert not re.search(rf"\b(?!{hours}\b)\d+ hours", schema)


def test_schema_descriptions_show_no_internal_names():
    """Docstrings become descriptions: no module paths, reST markup or serializer plumbing."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    texts: list[str] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("description", "summary") and isinstance(value, str):
                    texts.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(schema)
    assert texts
    internal = re.compile(
        r"``|\b(?:members|points|tiers|benefits|campaigns)\.[a-z_]+\.|context\[|_record\b|selectors?\b"
    )
    assert [text for text in texts if internal.search(text)] == []
