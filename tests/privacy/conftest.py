from tests.api.conftest import partner_a  # noqa: F401  (fixtures shared)
from tests.benefits.conftest import gift  # noqa: F401  (fixtures shared)
