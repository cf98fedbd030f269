"""Run a command against a throwaway PostgreSQL: ``python tests/pgcluster.py -- CMD ARGS...``.

The test suite needs real PostgreSQL (row locks, triggers), yet ``make test`` must work on a
laptop or a fresh CI machine without anyone setting up a server. So this starts a private
cluster in a temporary directory (tuned for speed, not durability), runs CMD with DATABASE_URL
pointing at it, and always stops and deletes it afterwards. A postgres:// DATABASE_URL that is
already set is used as is. Standard library only: it runs before the dependencies matter.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from types import FrameType

# Durability is worthless for a database deleted minutes later; dropping it makes tests faster.
# The planner prices random reads as on SSD, as the README advises for production.
SERVER_OPTIONS = (
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    " -c max_connections=200 -c shared_buffers=256MB -c random_page_cost=1.1"
)
APT_INSTALL = "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql"
NOT_FOUND = """\
PostgreSQL server programs (initdb, pg_ctl) not found. Either:
  - install them:                sudo apt-get install postgresql
  - or use an existing database: DATABASE_URL=postgres://user:pass@host:5432/db make test"""
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

_child: subprocess.Popen[bytes] | None = None
_pending: int | None = None  # a signal that arrived during the set-up


class SetupError(Exception):
    pass


def say(message: str) -> None:
    print(f"pgcluster: {message}", file=sys.stderr, flush=True)


def find_server() -> tuple[str, str] | None:
    """(initdb, pg_ctl) from PATH, else from the newest Debian /usr/lib/postgresql/*/bin."""
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        return initdb, pg_ctl

    def version(bindir: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in bindir.parent.name.split(".") if part.isdigit())

    for bindir in sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True):
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return str(bindir / "initdb"), str(bindir / "pg_ctl")
    return None


def server_user() -> pwd.struct_passwd | None:
    """initdb refuses to run as root, so root runs the server as `postgres` (or a `pgtest` user)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "pgtest"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            pass
    subprocess.run(["useradd", "--system", "--no-create-home", "pgtest"], check=True)
    return pwd.getpwnam("pgtest")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Cluster:
    def __init__(self, initdb: str, pg_ctl: str) -> None:
        self.initdb, self.pg_ctl = initdb, pg_ctl
        self.user = server_user()
        self.tmp = Path(tempfile.mkdtemp(prefix="pgcluster-"))
        self.data, self.log = self.tmp / "data", self.tmp / "server.log"
        if self.user:
            os.chown(self.tmp, self.user.pw_uid, self.user.pw_gid)

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        runuser = ["runuser", "-u", self.user.pw_name, "--"] if self.user else []
        # cwd: the server user may not be allowed into our working directory.
        return subprocess.run([*runuser, *args], cwd=self.tmp, capture_output=True, text=True)

    def start(self) -> str:
        """Start the server; return its DATABASE_URL."""
        for locale in ("--locale=C.UTF-8", "--no-locale"):  # C.UTF-8 is missing on old systems
            shutil.rmtree(self.data, ignore_errors=True)
            initdb = [self.initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres"]
            done = self.run(*initdb, "-E", "UTF8", locale, "--no-sync")
            abort_if_signalled()
            if done.returncode == 0:
                break
        else:
            raise SetupError(done.stdout + done.stderr)
        port = free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={port}"
            f" -c unix_socket_directories={shlex.quote(str(self.tmp))} {SERVER_OPTIONS}"
        )
        start = ["-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start"]
        done = self.run(self.pg_ctl, *start)
        abort_if_signalled()
        if done.returncode != 0:
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            raise SetupError(done.stdout + done.stderr + log)
        return f"postgres://postgres@127.0.0.1:{port}/postgres"

    def version(self) -> str:
        output = self.run(self.pg_ctl, "--version").stdout  # pg_ctl (PostgreSQL) 15.13 (Debian...)
        return f"PostgreSQL {output.split()[2]}"

    def remove(self) -> None:
        if self.data.exists():
            self.run(self.pg_ctl, "-D", str(self.data), "stop", "-m", "immediate", "-w")
        shutil.rmtree(self.tmp, ignore_errors=True)


def on_signal(signum: int, _frame: FrameType | None) -> None:
    """Pass the signal on to the command, whose exit starts our clean-up; or note it for set-up."""
    global _pending
    if _child is None:
        _pending = signum
    elif signum != signal.SIGINT:  # Ctrl-C reaches the command through the terminal anyway
        _child.send_signal(signum)


def abort_if_signalled() -> None:
    """Set-up stops between steps: killing initdb or pg_ctl midway would leave them orphaned."""
    if _pending is not None:
        raise SystemExit(128 + _pending)


def run_in_cluster(command: list[str], initdb: str, pg_ctl: str) -> int:
    global _child
    cluster = Cluster(initdb, pg_ctl)
    version = None
    try:
        url = cluster.start()
        version = cluster.version()
        abort_if_signalled()
        _child = subprocess.Popen(command, env={**os.environ, "DATABASE_URL": url})
        if _pending is not None:  # arrived while the command was being started
            _child.send_signal(_pending)
        returncode = _child.wait()
        return 128 - returncode if returncode < 0 else returncode  # killed by signal N: 128+N
    except SetupError as exc:
        say(f"could not start PostgreSQL:\n{exc}")
        return 1
    except OSError as exc:
        say(f"cannot run {command[0]}: {exc}")
        return 127
    finally:
        for sig in SIGNALS:  # a second Ctrl-C must not cut the clean-up short
            signal.signal(sig, signal.SIG_IGN)
        cluster.remove()
        if version:
            say(f"the command ran on a throwaway {version}, now stopped and removed")


def main(argv: list[str]) -> int:
    command = argv[1:] if argv[:1] == ["--"] else argv
    if not command:
        say("usage: python tests/pgcluster.py -- CMD ARGS...")
        return 2
    if os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        os.execvp(command[0], command)

    server = find_server()
    if server is None and os.geteuid() == 0 and shutil.which("apt-get"):
        say(f"no PostgreSQL found; installing Debian's package (running as root): {APT_INSTALL}")
        if subprocess.run(APT_INSTALL, shell=True).returncode == 0:
            server = find_server()
    if server is None:
        say(NOT_FOUND)
        return 2

    for sig in SIGNALS:
        signal.signal(sig, on_signal)
    return run_in_cluster(command, *server)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
