"""What the Django backend's test modules share: waiting for a condition, and callbacks that
record their calls and can be held inside until released."""

import threading
import time

JOIN_TIMEOUT = 30


def wait_until(condition, timeout=JOIN_TIMEOUT):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


class Callback:
    """A pget callback that records the keys it was called with and returns `result` (or raises
    `error`); with `delay` (an Event) it stays inside until the event is set."""

    def __init__(self, result, delay=None, error=None):
        self.result = result
        self.delay = delay
        self.error = error
        self.keys = []
        self.lock = threading.Lock()

    def __call__(self, made_key):
        with self.lock:
            self.keys.append(made_key)
        if self.delay is not None:
            self.delay.wait(JOIN_TIMEOUT)
        if self.error is not None:
            raise self.error
        return self.result

    @property
    def calls(self):
        with self.lock:
            return len(self.keys)
