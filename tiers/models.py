"""Models of the tiers app (none yet)."""
