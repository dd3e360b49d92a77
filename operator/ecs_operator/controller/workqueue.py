"""A work queue of keys to reconcile, as client-go's: deduplicated, delayable, one worker per key.

Events only say *which* ECSTask to look at; the reconcile reads everything else from the watched
caches. So ten Pod events for one task while it waits in the queue cost one reconcile, and a key
is never reconciled by two threads at once (no races between writers of one status).
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

log = logging.getLogger(__name__)


class WorkQueue(Generic[K]):
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._due: dict[K, float] = {}  # queued keys → when they are due
        self._heap: list[tuple[float, int, K]] = []  # (due, tie-breaker, key); stale entries skipped
        self._active: set[K] = set()  # keys a worker holds now
        self._again: dict[K, float] = {}  # keys added while active → due after the worker is done
        self._counter = 0
        self._stopped = False

    def __len__(self) -> int:
        with self._cond:
            return len(self._due) + len(self._again)

    def add(self, key: K, delay: float = 0.0) -> None:
        """Reconcile `key` after `delay` seconds (or sooner, if it is due sooner already)."""
        due = time.monotonic() + max(0.0, delay)
        with self._cond:
            if key in self._active:
                self._again[key] = min(due, self._again.get(key, due))
                return
            self._push(key, due)

    def _push(self, key: K, due: float) -> None:
        current = self._due.get(key)
        if current is not None and current <= due:
            return
        self._due[key] = due
        self._counter += 1
        heapq.heappush(self._heap, (due, self._counter, key))
        self._cond.notify()

    def get(self) -> K | None:
        """The next due key (blocking); None once the queue is stopped."""
        with self._cond:
            while not self._stopped:
                while self._heap and self._due.get(self._heap[0][2]) != self._heap[0][0]:
                    heapq.heappop(self._heap)  # superseded by an earlier due time, or taken
                if self._heap:
                    due, _, key = self._heap[0]
                    wait = due - time.monotonic()
                    if wait <= 0:
                        heapq.heappop(self._heap)
                        del self._due[key]
                        self._active.add(key)
                        return key
                    self._cond.wait(wait)
                else:
                    self._cond.wait()
            return None

    def done(self, key: K) -> None:
        with self._cond:
            self._active.discard(key)
            again = self._again.pop(key, None)
            if again is not None:
                self._push(key, again)

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()


def start_workers(queue: WorkQueue[K], reconcile: Callable[[K], float | None], count: int, name: str
                  ) -> list[threading.Thread]:
    """`count` threads that reconcile keys; `reconcile` returns a delay to look again, or None."""

    def work() -> None:
        while (key := queue.get()) is not None:
            try:
                again = reconcile(key)
            except Exception:  # a bug or an unexpected API answer: logged, retried later, never fatal
                log.exception("reconciling %s failed; retrying in 5 s", key)
                again = 5.0
            finally:
                queue.done(key)
            if again is not None:
                queue.add(key, again)

    threads = [threading.Thread(target=work, name=f"{name}-{i}", daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    return threads
