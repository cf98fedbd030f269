"""The API against its own OpenAPI schema: schemathesis generates requests for every operation,
valid and invalid ones (its examples, coverage and fuzzing phases), and runs every check it has
(``--checks all``): no 5xx, every response as the schema describes it, 405 with ``Allow`` for
methods an operation lacks, 401 without the key, and no schema-invalid request accepted nor
schema-valid one refused, except where the schema cannot know (``NOT_IN_SCHEMA``). Bounded and
derandomized, so it stays quick and CI is repeatable."""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from members.models import Channel
from members.partners.models import Grant
from tests.api.conftest import make_partner

# Per operation: enough to cross every field's edge cases without slowing make test. Derandomized,
# so CI is repeatable. A deeper search: API_FUZZ_EXAMPLES=500 API_FUZZ_RANDOM=1 pytest <this file>
EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", 12))
RANDOM = bool(os.environ.get("API_FUZZ_RANDOM"))

LISTS = ["/api/v1/members/", "/api/v1/purchases/", "/api/v1/redemptions/", "/api/v1/rewards/"]
LISTS += ["/api/v1/members/{member_number}/ledger/", "/api/v1/members/{member_number}/coupons/"]
LISTS += ["/api/v1/members/{member_number}/inbox/"]

#: Where a request the schema finds valid may still be a 400, and which fields that 400 may name,
#: per operation. Each is a rule OpenAPI cannot state (docs/api.md, "What the schema promises"):
#: - a cursor is valid only as the server wrote it (it encodes a position in the list);
#: - store codes (``store``, ``registration_store``) are the partner's own (``GET /me/`` lists
#:   them), event types the operator's;
#: - ``occurred_at`` and a birthday may not be in the future (the server's clock), a refund not
#:   before its purchase;
#: - a receipt's parts are bounded by its paid amount (shipping; gift cards + points; lines) and
#:   the paid amount by the gross: comparisons between fields;
#: - the lookup takes ``kind`` with ``value``, and at least one way to look up;
#: - undoing a redemption for a cancelled order names the order;
#: - a mobile number must be a real one (phonenumbers' rules), not only look like one;
#: - a point type is one of the programme's, a hold (``points_hold``) one of the partner's, and a
#:   basket's lines add up to at most its amount.
#: Anything else refused (another field, another status) is a failure.
RECEIPT = {"store", "occurred_at", "paid_amount", "shipping_amount", "gift_card_amount", "points_amount"}
RECEIPT |= {"lines"}
#: a coupon's basket: the partner's own store and channel, lines only with the amount and at most it
COUPON_BASKET = ("/api/v1/coupons/validate/", "/api/v1/coupons/redeem/")
NOT_IN_SCHEMA: dict[tuple[str, str], set[str]] = {
    **{("GET", path): {"cursor"} for path in LISTS},
    ("GET", "/api/v1/members/lookup/"): {"kind", "value", "member_number"},
    ("POST", "/api/v1/members/"): {"mobile", "birthday", "registration_store"},
    ("PATCH", "/api/v1/members/{member_number}/"): {"mobile", "birthday"},
    **{("POST", path): {"store", "channel", "amount", "lines"} for path in COUPON_BASKET},
    ("POST", "/api/v1/coupons/void/"): {"order_number"},
    ("POST", "/api/v1/events/"): {"event_type", "occurred_at"},
    ("POST", "/api/v1/purchases/{order_number}/refunds/"): {"occurred_at"},
    ("POST", "/api/v1/preview/"): RECEIPT,
    ("POST", "/api/v1/purchases/"): RECEIPT | {"points_hold"},
    **{
        ("POST", path): {"store", "lines", "point_type"}
        for path in ("/api/v1/members/{member_number}/points/quote/", "/api/v1/points/holds/")
    },
}


#: Where a schema-valid request meets a business rule on the server's own state, and the 422
#: code it answers: a member code is valid only while the brand's app shows it (issued, not
#: expired, not used), which no generated code can be.
STATE_REFUSALS: dict[tuple[str, str], set[str]] = {
    ("POST", "/api/v1/members/link/"): {"member_code_invalid"},
    # points as cash: the operator's rule (off in a new database) and the member's balance
    ("POST", "/api/v1/points/holds/"): {
        "cash_unavailable", "below_min_balance", "points_step", "over_cash_limit", "insufficient_points",
        "not_redeemable", "member_closed",
    },
    ("POST", "/api/v1/points/holds/{id}/release/"): {"hold_closed"},
    ("POST", "/api/v1/purchases/"): {"hold_expired", "hold_closed", "hold_mismatch"},
}  # fmt: skip


def valid_data_accepted(ctx, response, case):
    """schemathesis' positive_data_acceptance, but a 400 naming only fields whose rule the
    schema cannot state (``NOT_IN_SCHEMA``), or a 422 on the server's state (``STATE_REFUSALS``),
    is the server being right, not the schema wrong."""
    if case.meta is not None and case.meta.generation.mode.is_positive:
        operation = (case.method.upper(), case.path)
        if response.status_code == 400:
            named = set(response.json()["fields"])
            if named and named <= NOT_IN_SCHEMA.get(operation, set()):
                return None
        if response.status_code == 422 and response.json()["code"] in STATE_REFUSALS.get(operation, set()):
            return None
    return positive_data_acceptance(ctx, response, case)


@pytest.fixture
def api_key(db) -> str:
    # Every grant and channel: what a partner may do is tested in test_cross_partner and the
    # endpoints' tests; here every operation must be reachable.
    _partner, key = make_partner("fuzz", "F001", grants=Grant.values, channels=Channel.values)
    return key


@pytest.fixture(autouse=True)
def keep_the_test_connection():
    """Schemathesis calls the WSGI app directly: without this, Django's end-of-request signal
    closes the test transaction's connection, as Django's own test client prevents."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _schema():
    from config.wsgi import application

    # Generated by the app itself at collection time (no database needed for that).
    return schemathesis.openapi.from_wsgi("/api/schema/", application)


schema = _schema()


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
    derandomize=not RANDOM,
)
@pytest.mark.django_db
def test_every_operation_conforms(case, api_key):
    case.call_and_validate(
        headers={"Authorization": f"Api-Key {api_key}", "Accept-Language": "en"},
        # no ``checks``: every check schemathesis has, as ``--checks all``
        excluded_checks=[positive_data_acceptance],
        additional_checks=[valid_data_accepted],
    )


# The stateful phase: sequences of calls where one response feeds the next request (a member
# enrolled, then read, patched, its ledger listed; a purchase posted, then refunded ...), with the
# links schemathesis infers from the schema. Bounded like the above.
STEPS = int(os.environ.get("API_FUZZ_STEPS", 6))


@pytest.mark.django_db
def test_sequences_of_operations_conform(api_key):
    headers = {"Authorization": f"Api-Key {api_key}", "Accept-Language": "en"}

    class Sequences(schema.as_state_machine()):
        def get_call_kwargs(self, case):
            return {"headers": headers}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(
                response,
                excluded_checks=[positive_data_acceptance],
                additional_checks=[valid_data_accepted],
                headers=headers,
                transport_kwargs=kwargs or None,
                recorder=self.recorder,
            )

    Sequences.run(
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            derandomize=not RANDOM,
        )
    )


def test_docs_page_works_offline(client):
    """The Swagger UI's assets are ours (no CDN), and the schema is reachable without a key."""
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()
    assert client.get("/api/schema/").status_code == 200


def test_the_schema_is_valid_openapi_without_warnings(tmp_path):
    """Every view documents its input and output (no guessed serializers, no ambiguous enums)."""
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))
    assert "/api/v1/purchases/" in (tmp_path / "schema.yml").read_text()
