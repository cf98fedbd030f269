"""Settings come from the environment, fail loudly on bad values, and pass the deploy check."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "x7#kq!e2v9$1m@c4w8z0p3r6t5y-u*i&o(l)n_a+s=d^f%g~h/j[b]",
    "ALLOWED_HOSTS": "loyalty.example.com",
    "DATABASE_URL": "postgres://loyalty:secret@db.internal:5432/loyalty",
    "CELERY_BROKER_URL": "redis://redis.internal:6379/0",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "DATABASE_URL"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_deploy_check_passes_with_production_values():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stderr + result.stdout


def test_production_defaults_are_safe():
    code = (
        "from django.conf import settings as s;"
        "print(s.DEBUG, s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CELERY_TASK_ALWAYS_EAGER,"
        " s.TIME_ZONE, s.LANGUAGE_CODE, s.DATABASES['default']['ENGINE'])"
    )
    result = manage("shell", "--no-imports", "-c", code, **PRODUCTION)
    assert result.stdout.split() == [
        "False", "True", "True", "False", "Asia/Shanghai", "zh-hans", "django.db.backends.postgresql",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEBUG": "ture"}, "DEBUG='ture' is not a boolean"),
        ({"DEBUG": "0", "SECRET_KEY": ""}, "SECRET_KEY must be set"),
        ({"TIME_ZONE": "Mars/Olympus"}, "not an IANA time zone"),
        ({"DATABASE_URL": "mysq://x"}, "DATABASE_URL"),
        ({"ALLOWED_HOSTS": "a.com,,b.com"}, "ALLOWED_HOSTS"),
        ({"LANGUAGE_CODE": "fr"}, "LANGUAGE_CODE"),
        ({"SECURE_HSTS_SECONDS": "a year"}, "not an integer"),
        ({"CELERY_VISIBILITY_TIMEOUT": "1h"}, "CELERY_VISIBILITY_TIMEOUT='1h' is not an integer"),
    ],
)
def test_malformed_values_fail_loudly(env, message):
    result = manage("check", **{**PRODUCTION, **env})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr


def test_make_run_set_up_has_a_broker_in_files_and_a_patient_sqlite(tmp_path):
    """What `make run` sets: kombu's filesystem transport in the given folder (made if missing),
    and SQLite shared by two processes, waiting for the other's writes instead of failing."""
    code = (
        "from django.conf import settings as s; d = s.DATABASES['default'];"
        "print(s.CELERY_TASK_ALWAYS_EAGER, s.CELERY_BEAT_SCHEDULER, d['ENGINE'], d['OPTIONS']);"
        "print(s.CELERY_BROKER_TRANSPORT_OPTIONS)"
    )
    env = {"DEBUG": "1", "CELERY_BROKER_URL": "filesystem://", "CELERY_FILESYSTEM_DIR": str(tmp_path / "q")}
    result = manage("shell", "--no-imports", "-c", code, **env)
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()
    assert first == (
        "False django_celery_beat.schedulers:DatabaseScheduler django.db.backends.sqlite3 "
        "{'timeout': 20, 'transaction_mode': 'IMMEDIATE', 'init_command': 'PRAGMA journal_mode=WAL;'}"
    )
    queue = tmp_path / "q"
    folders = {
        "data_folder_in": str(queue / "out"),  # one folder: what is sent is what is read
        "data_folder_out": str(queue / "out"),
        "processed_folder": str(queue / "processed"),
        "control_folder": str(queue / "control"),
    }
    assert second == str(folders)
    assert all(Path(folder).is_dir() for folder in folders.values())


def test_production_broker_redelivers_after_the_visibility_timeout():
    code = "from django.conf import settings as s; print(s.CELERY_BROKER_TRANSPORT_OPTIONS)"
    result = manage("shell", "--no-imports", "-c", code, **PRODUCTION)
    assert result.stdout.strip() == "{'visibility_timeout': 3600}"
    result = manage("shell", "--no-imports", "-c", code, **PRODUCTION, CELERY_VISIBILITY_TIMEOUT="600")
    assert result.stdout.strip() == "{'visibility_timeout': 600}"
