"""Partner API endpoints of the points app (wired under /api/v1/ by config/api.py)."""

from __future__ import annotations

urlpatterns: list = []
