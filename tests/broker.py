"""A real broker and real Celery workers for tests/test_broker.py.

``redis_server()`` starts Debian's ``redis-server`` on a free port of 127.0.0.1, with nothing
saved to disk. When the binary is missing it is installed with apt-get if this runs as root
(as tests/pgcluster.py does for PostgreSQL; CI runs as root); otherwise the test fails saying
how to get it: a broker test that skipped would prove nothing while looking green.

``Worker`` is ``celery -A config worker`` in its own process group, against the test database,
so a test can SIGKILL the whole worker (main process and pool) as a machine dying would.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

APT_INSTALL = "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server"


def redis_binary() -> str:
    found = shutil.which("redis-server") or next(
        (p for p in ["/usr/bin/redis-server", "/usr/sbin/redis-server"] if Path(p).exists()), None
    )
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("tests/broker.py: installing Debian's redis-server (running as root)", file=sys.stderr)
        subprocess.run(["sh", "-c", APT_INSTALL], check=True, stdout=subprocess.DEVNULL)
        return redis_binary()
    pytest.fail(
        "The broker tests need Redis: install it with `sudo apt-get install redis-server` "
        "(or run `make test` as root, which installs it)."
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ping(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1) as s:
        s.sendall(b"PING\r\n")
        return s.recv(16).startswith(b"+PONG")
    return False


@contextlib.contextmanager
def redis_server(directory: Path) -> Iterator[str]:
    """Yields the broker URL of a Redis that lives as long as the block."""
    port = free_port()
    command = [redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    server = subprocess.Popen([*command, "--dir", str(directory)], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not ping(port):
            assert server.poll() is None, "redis-server stopped at start"
            assert time.monotonic() < deadline, "redis-server did not answer within 10 s"
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(10)


def database_url() -> str:
    """The test database, for a process of its own (the test must commit what it shows it)."""
    db = connection.settings_dict
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


class Worker:
    """``celery -A config worker`` (prefork, one pool process) logging to ``log``."""

    def __init__(self, broker_url: str, log: Path, *, visibility_timeout: int) -> None:
        self.log = log
        env = {
            **os.environ,
            "DEBUG": "1",
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": broker_url,
            "CELERY_VISIBILITY_TIMEOUT": str(visibility_timeout),
        }
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            "1",
            "--without-gossip",
            "--without-mingle",
            "--hostname",
            f"{log.stem}@%h",
        ]
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                command,
                env=env,
                cwd=settings.BASE_DIR,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 30) -> Worker:
        deadline = time.monotonic() + timeout
        while " ready." not in self.output():
            assert self.process.poll() is None, f"the worker stopped:\n{self.output()}"
            assert time.monotonic() < deadline, f"the worker was not ready in {timeout} s:\n{self.output()}"
            time.sleep(0.1)
        return self

    def kill(self) -> None:
        """SIGKILL to the main process and its pool at once: nothing gets to clean up."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
