"""Partner API endpoints of the campaigns app (wired under /api/v1/ by config/api.py)."""

from __future__ import annotations

urlpatterns: list = []
