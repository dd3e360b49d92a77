"""What every level-based reconciler here is made of, apart from its reconcile function.

A reconciler supplies what it watches (it subscribes to the shared watched caches and maps each
change to the keys it affects), and `reconcile(key) -> delay | None`, which derives everything
from the caches and writes only what differs. The kit gives it, one object each, no module state:

- `Reconciler`: a keyed work queue (deduplicated, delayable, one worker per key) and its worker
  threads, started once every cache is complete;
- `StatusWriter`: status replaced with the resourceVersion it was derived from (a stale cache is
  retried, never overwrites newer facts), and its answer remembered until the watch catches up;
- `Recent`: objects this process created or deleted that the watch has not shown yet;
- `Backoff`: per-key retry delays that grow while something stays missing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from kubernetes.client.exceptions import ApiException

from . import decoding, kube, metrics
from .workqueue import WorkQueue, start_workers

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
Key = tuple[str, str]  # (namespace, name)


class Reconciler(Generic[K]):
    def __init__(self, name: str, reconcile: Callable[[K], float | None], workers: int) -> None:
        self.name, self.reconcile, self.workers = name, reconcile, workers
        self.queue: WorkQueue[K] = WorkQueue(name)
        self._threads: list[threading.Thread] = []
        self._starter: threading.Thread | None = None

    def start(self, wait_synced: Callable[[], bool]) -> None:
        """Workers start once `wait_synced()` returns: a key reconciled against a half-listed cache
        would find what it refers to missing."""

        def start_when_synced() -> None:
            wait_synced()
            self._threads.extend(start_workers(self.queue, self.reconcile, self.workers, self.name))

        self._starter = threading.Thread(target=start_when_synced, name=f"{self.name}-start", daemon=True)
        self._starter.start()

    def stop(self, timeout: float = 0.0) -> bool:
        """No key is taken any more; waits up to `timeout` for the reconciles under way to end.
        True when none is left (a worker started after this finds the queue stopped and ends)."""
        self.queue.stop()
        deadline = time.monotonic() + timeout
        if self._starter is not None:  # its workers may be starting: wait for the list of them
            self._starter.join(max(0.0, deadline - time.monotonic()))
            if self._starter.is_alive():
                return False
        for thread in list(self._threads):
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self._threads)


def resource_version(obj: dict[str, Any] | None) -> int:
    try:
        return int((obj or {}).get("metadata", {}).get("resourceVersion") or 0)
    except ValueError:  # opaque in principle; etcd's revisions are integers in practice
        return 0


class StatusWriter:
    """Replaces the status of one kind of custom resource, guarded by resourceVersion.

    `keep(answer)` is what the reconciler's cache keeps of an object (packed JSON text), so that
    the next reconcile can start from the answer when it is newer than what the watch has
    delivered; `requeue(key, delay)` looks again after a 409.
    """

    def __init__(self, plural: str, api_version: str, kind: str, keep: Callable[[dict[str, Any]], str],
                 requeue: Callable[[Key, float], None]) -> None:
        self.plural, self.api_version, self.kind = plural, api_version, kind
        self.keep, self.requeue = keep, requeue
        self._lock = threading.Lock()
        self._written: dict[Key, tuple[int, str]] = {}  # (resourceVersion, kept answer)
        self._sending: dict[Key, dict[str, Any]] = {}  # statuses being written now
        self._echoed: dict[Key, int] = {}  # … whose echo the watch delivered before their answer: its version

    def current(self, key: Key, watched: dict[str, Any] | None) -> dict[str, Any] | None:
        """The newer of the watched object and the last answer to a write of its status."""
        with self._lock:
            written = self._written.get(key)
            if written is not None and watched is not None and resource_version(watched) >= written[0]:
                del self._written[key]  # the watch has caught up
                written = None
        return decoding.unpack(written[1]) if written is not None else watched

    def forget(self, key: Key) -> None:
        with self._lock:
            self._written.pop(key, None)

    def echoes(self, key: Key, watched: dict[str, Any]) -> bool:
        """The watch shows this writer's own write (the last answered one, or the status a write
        now waiting for its answer sends) and nothing newer: the reconcile that wrote it deals with
        it, so it needs no other (a reconciler skips its own writes' echoes)."""
        with self._lock:
            sending = self._sending.get(key)
            if sending is not None and watched.get("status") == sending:
                # the watch is quicker than the answer (often, on a busy machine): a write is on
                # its way, and the object carries what it sends
                self._echoed[key] = resource_version(watched)
                return True
            written = self._written.get(key)
            if written is None or resource_version(watched) != written[0]:
                return False
            del self._written[key]  # the watch has caught up
            return True

    def write(self, key: Key, obj: dict[str, Any], status: dict[str, Any]) -> dict[str, Any] | None:
        """Replace the status (with the resourceVersion read); the answer, or None when unchanged or stale.

        409: the cache was behind (a spec change, or another writer). The reconcile repeats a moment
        later from what the watch delivers by then (no read: the watch is on its way with it).
        404: the object is gone.
        """
        if status == obj["status"]:
            return None
        meta = obj["metadata"]
        body = {"apiVersion": self.api_version, "kind": self.kind,
                "metadata": {"name": meta["name"], "namespace": meta["namespace"],
                             "resourceVersion": meta["resourceVersion"]},
                "status": status}
        with self._lock:
            self._sending[key] = status
        try:
            answer: dict[str, Any] = kube.send("PUT", kube.custom_path(self.plural, key[0], key[1], "status"), body)
        except ApiException as err:
            if err.status == 409:
                self.forget(key)
                self.requeue(key, 0.3)
                return None
            if err.status == 404:
                self.forget(key)
                return None
            raise
        finally:
            with self._lock:
                self._sending.pop(key, None)
                echoed = self._echoed.pop(key, -1)
        if echoed < resource_version(answer):  # else the watch has shown it already: nothing to remember
            with self._lock:
                self._written[key] = (resource_version(answer), self.keep(answer))
        return answer


class Recent(Generic[K]):
    """Keys remembered for `seconds`: a Pod this process created or deleted that the watch has not
    shown yet is never created (or deleted) twice; the watch shows it long before they expire."""

    def __init__(self, seconds: float = 120.0) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._at: dict[K, float] = {}

    def add(self, key: K) -> None:
        with self._lock:
            moment = time.monotonic()
            self._at[key] = moment
            for old in [k for k, t in self._at.items() if moment - t > self.seconds]:
                del self._at[old]

    def discard(self, key: K) -> None:
        with self._lock:
            self._at.pop(key, None)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            at = self._at.get(key, -self.seconds)  # type: ignore[arg-type]
            return time.monotonic() - at < self.seconds


class Backoff(Generic[K]):
    """Soon at first (the missing object may be applied in a moment), then less often: 2, 4 … 30 s."""

    def __init__(self, first: float = 2.0, step: float = 2.0, cap: float = 30.0) -> None:
        self.first, self.step, self.cap = first, step, cap
        self._lock = threading.Lock()
        self._attempts: dict[K, int] = {}

    def next(self, key: K) -> float:
        with self._lock:
            attempt = self._attempts.get(key, 0)
            self._attempts[key] = attempt + 1
        metrics.retried()  # counted for the calling worker's queue
        return float(min(self.cap, self.first + self.step * attempt))

    def reset(self, key: K) -> None:
        with self._lock:
            self._attempts.pop(key, None)

    def __contains__(self, key: object) -> bool:
        return key in self._attempts
