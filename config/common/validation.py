"""Collects every field error of an input before failing, so the operator fixes all at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from django.core.exceptions import ValidationError

T = TypeVar("T")


class FieldErrors:
    def __init__(self) -> None:
        self.errors: dict[str, list[ValidationError]] = {}

    def add(self, field: str, message: str, code: str = "invalid") -> None:
        self.errors.setdefault(field, []).append(ValidationError(message, code=code))

    def capture(self, field: str, func: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """Run ``func``; a ValidationError it raises is recorded against ``field``."""
        try:
            return func(*args, **kwargs)
        except ValidationError as exc:
            self.errors.setdefault(field, []).extend(ValidationError(m) for m in exc.messages)
            return None

    def raise_if_any(self) -> None:
        if self.errors:
            raise ValidationError(self.errors)

    @staticmethod
    def single(field: str, message: str, code: str = "invalid") -> NoReturn:
        raise ValidationError({field: [ValidationError(message, code=code)]})
