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

from . import metrics

K = TypeVar("K", bound=Hashable)

log = logging.getLogger(__name__)


class WorkQueue(Generic[K]):
    def __init__(self, name: str | None = None) -> None:
        """`name`: the queue's metrics are labelled with it (none without a name)."""
        self.name = name or ""
        self.metrics = metrics.queue_metrics(self) if name else None
        self._cond = threading.Condition()
        self._due: dict[K, float] = {}  # queued keys → when they are due
        self._urgent: set[K] = set()  # queued keys in the urgent lane
        # (due, tie-breaker, key) per lane, normal and urgent; stale entries skipped
        self._heaps: tuple[list[tuple[float, int, K]], list[tuple[float, int, K]]] = ([], [])
        self._active: set[K] = set()  # keys a worker holds now
        self._again: dict[K, tuple[float, bool]] = {}  # keys added while active → (due, urgent) after
        self._counter = 0
        self._stopped = False

    def __len__(self) -> int:
        with self._cond:
            return len(self._due) + len(self._again)

    def add(self, key: K, delay: float = 0.0, urgent: bool = False) -> None:
        """Reconcile `key` after `delay` seconds (or sooner, if it is due sooner already). An
        urgent key goes before every due key that is not: what a reconciler only has to report
        (a task that became RUNNING) does not wait behind what it has to create (a burst)."""
        due = time.monotonic() + max(0.0, delay)
        with self._cond:
            if self.metrics is not None and key not in self._due and key not in self._again:
                self.metrics.adds.inc()  # a new key (client-go's adds: not one already waiting)
            if key in self._active:
                before = self._again.get(key)
                self._again[key] = (min(due, before[0]), urgent or before[1]) if before else (due, urgent)
                return
            self._push(key, due, urgent)

    def _push(self, key: K, due: float, urgent: bool = False) -> None:
        current = self._due.get(key)
        was_urgent = key in self._urgent
        if current is not None and current <= due and (was_urgent or not urgent):
            return
        due = min(due, current) if current is not None else due
        urgent = urgent or was_urgent
        self._due[key] = due
        if urgent:
            self._urgent.add(key)
        self._counter += 1
        heapq.heappush(self._heaps[urgent], (due, self._counter, key))
        self._cond.notify()

    def _top(self, urgent: bool) -> tuple[float, int, K] | None:
        """The lane's earliest valid entry (stale ones, superseded or moved to the other lane, dropped)."""
        heap = self._heaps[urgent]
        while heap and (self._due.get(heap[0][2]) != heap[0][0] or (heap[0][2] in self._urgent) != urgent):
            heapq.heappop(heap)
        return heap[0] if heap else None

    def get(self) -> K | None:
        """The next due key (blocking); None once the queue is stopped."""
        with self._cond:
            while not self._stopped:
                moment = time.monotonic()
                tops = [(top, urgent) for urgent in (True, False) if (top := self._top(urgent)) is not None]
                if tops:
                    ready = [(top, urgent) for top, urgent in tops if top[0] <= moment]
                    (due, _, key), urgent = ready[0] if ready else min(tops)
                    wait = due - moment
                    if wait <= 0:
                        heapq.heappop(self._heaps[urgent])
                        del self._due[key]
                        self._urgent.discard(key)
                        self._active.add(key)
                        if self.metrics is not None:
                            self.metrics.queue_duration.observe(-wait)  # waited since it was due
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
                self._push(key, *again)

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()


def start_workers(queue: WorkQueue[K], reconcile: Callable[[K], float | None], count: int, name: str
                  ) -> list[threading.Thread]:
    """`count` threads that reconcile keys; `reconcile` returns a delay to look again, or None.
    Each reconcile is counted and timed as one of `name` (ecs_operator_reconcile_*)."""
    bound = queue.metrics
    reconciles = metrics.ReconcileMetrics(name)

    def work() -> None:
        metrics.serving(bound)
        while (key := queue.get()) is not None:
            started = time.perf_counter()
            try:
                again = reconcile(key)
                reconciles.done(time.perf_counter() - started, again)
            except Exception:  # a bug or an unexpected API answer: logged, retried later, never fatal
                reconciles.failed(time.perf_counter() - started)
                if bound is not None:
                    bound.retries.inc()
                log.exception("reconciling %s failed; retrying in 5 s", key)
                again = 5.0
            finally:
                if bound is not None:
                    bound.work_duration.observe(time.perf_counter() - started)
                queue.done(key)
            if again is not None:
                queue.add(key, again)

    threads = [threading.Thread(target=work, name=f"{name}-{i}", daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    return threads
