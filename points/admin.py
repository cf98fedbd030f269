"""Admin of the points app (nothing registered yet)."""
