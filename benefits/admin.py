"""Admin of the benefits app (nothing registered yet)."""
