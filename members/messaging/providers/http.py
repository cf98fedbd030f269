"""One HTTP request to a gateway, with the standard library (the application has no HTTP client
dependency, and a POST with a timeout is all a gateway needs). Answers of any status come back;
only not getting one (refused connection, timeout, a broken answer) raises, as temporary."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from typing import Any

from members.messaging.providers import ProviderError

#: An answer is a short JSON object; more than this is not read.
MAX_ANSWER = 65_536


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A gateway that redirects a POST is misconfigured: urllib would resend it as a GET."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def request(url: str, body: bytes | None, headers: dict[str, str], *, timeout: float) -> tuple[int, bytes]:
    """POST ``body`` (GET when None) to ``url``; returns (status, answer)."""
    sent = urllib.request.Request(url, data=body, headers=headers, method="GET" if body is None else "POST")
    try:
        with _OPENER.open(sent, timeout=timeout) as answer:
            return answer.status, answer.read(MAX_ANSWER)
    except urllib.error.HTTPError as error:  # an answer, with a status that is not 2xx
        with error:
            return error.code, error.read(MAX_ANSWER)
    except (OSError, http.client.HTTPException) as error:  # URLError and timeouts are OSErrors
        reason = getattr(error, "reason", None) or error
        raise ProviderError(f"no answer from the gateway: {reason}", temporary=True) from error


def json_object(answer: bytes) -> dict[str, Any]:
    """The answer as a JSON object; anything else reads as an empty one."""
    try:
        data = json.loads(answer)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
