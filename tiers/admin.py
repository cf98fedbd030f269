"""Admin of the tiers app (nothing registered yet)."""
