"""Why a fetch failed, in words an operator can act on."""

from __future__ import annotations


class FetchFailed(Exception):
    """The fetch ends with status ``error``; ``str(exc)`` is the message stored on the fetch record."""

    status = "error"


class FetchTimedOut(FetchFailed):
    """``EPG_FETCH_TIMEOUT`` passed before the guide was downloaded and stored: status ``timeout``."""

    status = "timeout"


class Deadline:
    """The time left of ``EPG_FETCH_TIMEOUT``, shared by download, parsing and writing."""

    def __init__(self, seconds: float, clock=None):
        import time

        self._clock = clock or time.monotonic
        self.seconds = seconds
        self.ends_at = self._clock() + seconds

    def remaining(self, activity: str) -> float:
        """Seconds left (> 0); FetchTimedOut naming ``activity`` once none are."""
        left = self.ends_at - self._clock()
        if left <= 0:
            raise FetchTimedOut(f"Timed out after {self.seconds:g} s (EPG_FETCH_TIMEOUT) while {activity}.")
        return left
