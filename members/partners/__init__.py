"""Partner systems (the brand's POS and mini-program, third parties) and their API keys, and the
partner-API framework every app's endpoints are built on (``api/``)."""
