from tests.api.conftest import partner_a  # noqa: F401  (fixtures shared)
