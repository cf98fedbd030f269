from tests.campaigns.conftest import en  # noqa: F401  (fixtures shared)
