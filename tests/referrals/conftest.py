"""Fixtures shared with the API tests: two partners, A first-party, B third-party."""

from tests.api.conftest import partner_a, partner_b  # noqa: F401
