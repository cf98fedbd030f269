"""A recording "gateway" that takes 20 ms a message: slow enough to kill a worker in the middle of
a batch (tests/test_broker.py). Named by MESSAGING_PROVIDERS in the worker. It sends one message
at a time, as a gateway does (it is no ``LocalProvider``, whose batches commit at once)."""

from __future__ import annotations

import time

from members.messaging.models import Message
from members.messaging.providers import RecordingProvider


class SlowRecordingProvider:
    rate_per_second = 0.0

    def send(self, message: Message) -> str:
        time.sleep(0.02)
        return RecordingProvider().send(message)
