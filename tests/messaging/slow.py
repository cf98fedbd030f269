"""A recording provider that takes 20 ms a message, like a gateway: slow enough to kill a worker
in the middle of a batch (tests/test_broker.py). Named by MESSAGING_PROVIDERS in the worker."""

from __future__ import annotations

import time

from members.messaging.models import Message
from members.messaging.providers import RecordingProvider


class SlowRecordingProvider(RecordingProvider):
    def send(self, message: Message) -> str:
        time.sleep(0.02)
        return super().send(message)
