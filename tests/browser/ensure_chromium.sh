#!/bin/sh
# Installs Debian's chromium and chromium-driver for the browser tests (tests/browser) when they
# are missing and this runs as root with apt-get, as tests/pgcluster.py does for PostgreSQL: so a
# fresh CI machine runs them. Anywhere else it does nothing, and the browser tests skip saying
# what to install. Silent when there is nothing to do; a failed install as root fails `make test`.
set -eu

if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    exit 0
fi

echo "ensure_chromium: installing Debian's chromium and chromium-driver (running as root)" >&2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; } \
    >"$log" 2>&1; then
    cat "$log" >&2
    echo "ensure_chromium: apt-get could not install chromium and chromium-driver (output above)." >&2
    exit 1
fi
if ! command -v chromium >/dev/null; then
    echo "ensure_chromium: chromium is still not on PATH after apt-get install." >&2
    exit 1
fi
