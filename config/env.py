"""Readers for settings taken from the environment.

Each helper fails loudly (ImproperlyConfigured naming the variable) on a value it cannot
read, because a typo such as ``DEBUG=ture`` silently meaning "false" is how production
outages start.
"""

from __future__ import annotations

import os
import zoneinfo
from collections.abc import Callable
from typing import Any, TypeVar, overload

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@overload
def env_str(name: str, default: str) -> str: ...
@overload
def env_str(name: str, default: None = None) -> str | None: ...
def env_str(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name}={raw!r} is not a boolean: use one of 1/0, true/false, yes/no, on/off."
    )


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer.") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    items = [item.strip() for item in raw.split(",")]
    if any(not item for item in items):
        raise ImproperlyConfigured(f"{name}={raw!r} has an empty item: give a comma-separated list.")
    return items


def env_database(name: str, default: str) -> dj_database_url.DBConfig:
    raw = os.environ.get(name) or default
    try:
        config = dj_database_url.parse(raw, conn_max_age=env_int("CONN_MAX_AGE", 60))
    except Exception as exc:  # the library raises several types for different malformations
        raise ImproperlyConfigured(f"{name} is not a usable database URL: {exc}") from None
    if not config.get("ENGINE"):
        raise ImproperlyConfigured(f"{name} names an unknown database scheme.")
    return config


def env_timezone(name: str, default: str) -> str:
    value = os.environ.get(name, default)
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ImproperlyConfigured(
            f"{name}={value!r} is not an IANA time zone such as Asia/Shanghai."
        ) from None
    return value


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = os.environ.get(name, default).strip()
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} is not one of {', '.join(choices)}.")
    return value


@overload
def env_pairs(name: str) -> dict[str, str]: ...
@overload
def env_pairs(name: str, convert: Callable[[str], T]) -> dict[str, T]: ...
def env_pairs(name: str, convert: Callable[[str], Any] = str) -> dict[str, Any]:
    """``key=value,key=value`` (e.g. ``sms=50,wechat=20``); empty or unset: no pairs."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return {}
    pairs: dict[str, Any] = {}
    for item in raw.split(","):
        key, sep, value = (part.strip() for part in item.partition("="))
        if not (key and sep and value):
            raise ImproperlyConfigured(f"{name}={raw!r}: {item.strip()!r} is not key=value.")
        try:
            pairs[key] = convert(value)
        except ValueError:
            raise ImproperlyConfigured(f"{name}={raw!r}: {value!r} of {key!r} is not usable.") from None
    return pairs
