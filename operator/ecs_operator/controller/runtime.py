"""The operator's runtime: one set of watched caches, and the reconcilers that share them."""

from __future__ import annotations

import logging
import time

from . import events
from .caches import Caches
from .services import ServiceReconciler
from .tasks import TaskReconciler
from .watchcache import Scope

log = logging.getLogger(__name__)


class Runtime:
    def __init__(self, scope: Scope) -> None:
        self.caches = Caches(scope)
        # Reconcilers subscribe to the caches when made: before the caches start, so that they
        # hear of every object of the first list.
        self.tasks = TaskReconciler(self.caches)
        self.services = ServiceReconciler(self.caches)
        self.reconcilers = (self.tasks, self.services)
        self._caches_started = self._started = False

    def start_caches(self) -> None:
        """List and watch, and nothing else: a standby replica (leader.py) keeps its caches warm,
        and its reconcilers' queues fill with the keys they will look at once it leads."""
        if not self._caches_started:
            self._caches_started = True
            self.caches.start()

    def start(self) -> None:
        """Act: the Event poster and the reconcilers' workers (once every cache is complete). Once."""
        if self._started:
            return
        self._started = True
        events.start()
        self.start_caches()
        for reconciler in self.reconcilers:  # their workers start once every cache is complete
            reconciler.loop.start(self.caches.wait_synced)

    def stop(self, timeout: float = 0.0) -> bool:
        """The reconcilers take no key any more, and the watches end; waits up to `timeout` for the
        reconciles under way and the Events queued. True when nothing of this runtime writes any more."""
        deadline = time.monotonic() + timeout
        for reconciler in self.reconcilers:
            reconciler.loop.queue.stop()  # all at once: the waits below overlap
        idle = all([reconciler.loop.stop(max(0.0, deadline - time.monotonic())) for reconciler in self.reconcilers])
        self.caches.stop()
        return idle and events.drain(max(0.0, deadline - time.monotonic()))
