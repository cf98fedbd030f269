"""The partner API's framework, shared by every app's endpoints (``<app>/api.py``).

Authentication by partner key, one grant per endpoint, per-key throttling, one error body,
``Idempotency-Key`` on state-changing POSTs, cursor pagination. See docs/api.md.
"""
