"""The work queue behind the ECSTask reconciler: deduplication, delays, one worker per key; stopping."""

from __future__ import annotations

import queue as queue_module
import threading
import time

from ecs_operator.controller import events
from ecs_operator.controller.kit import Reconciler
from ecs_operator.controller.workqueue import WorkQueue, start_workers


def test_a_key_added_many_times_while_queued_is_handed_out_once() -> None:
    queue: WorkQueue[str] = WorkQueue()
    for _ in range(5):
        queue.add("a")
    queue.add("b")
    assert queue.get() == "a"
    assert queue.get() == "b"
    assert len(queue) == 0


def test_the_earliest_due_time_wins() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("late", delay=30)
    queue.add("soon", delay=0.05)
    queue.add("late", delay=0.0)  # sooner than before: moves up
    assert queue.get() == "late"
    assert queue.get() == "soon"


def test_a_delayed_key_is_not_handed_out_before_it_is_due() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a", delay=0.2)
    started = time.monotonic()
    assert queue.get() == "a"
    assert time.monotonic() - started >= 0.19


def test_a_key_added_while_a_worker_holds_it_comes_back_after_done() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    assert queue.get() == "a"
    queue.add("a")  # an event arrives while "a" is being reconciled
    got: list[str | None] = []
    waiter = threading.Thread(target=lambda: got.append(queue.get()))
    waiter.start()
    waiter.join(0.2)
    assert got == []  # not handed to a second worker while the first holds it
    queue.done("a")
    waiter.join(2)
    assert got == ["a"]


def test_stop_releases_waiting_workers() -> None:
    queue: WorkQueue[str] = WorkQueue()
    got: list[str | None] = []
    waiter = threading.Thread(target=lambda: got.append(queue.get()))
    waiter.start()
    queue.stop()
    waiter.join(2)
    assert got == [None]


def test_workers_reconcile_each_key_never_concurrently_and_retry_on_request() -> None:
    queue: WorkQueue[int] = WorkQueue()
    active: set[int] = set()
    overlaps: list[int] = []
    calls: dict[int, int] = {}
    lock = threading.Lock()
    done = threading.Event()

    def reconcile(key: int) -> float | None:
        with lock:
            if key in active:
                overlaps.append(key)
            active.add(key)
            calls[key] = calls.get(key, 0) + 1
        time.sleep(0.001)
        with lock:
            active.discard(key)
            if sum(calls.values()) >= 40:
                done.set()
        return 0.0 if calls[key] < 2 else None  # each key asks to be looked at once more

    start_workers(queue, reconcile, 4, "test")
    for i in range(200):
        queue.add(i % 20)
    assert done.wait(10)
    time.sleep(0.1)
    queue.stop()
    assert overlaps == []
    assert all(n >= 2 for n in calls.values()) and len(calls) == 20


def test_a_failing_reconcile_is_not_fatal_to_its_worker() -> None:
    queue: WorkQueue[str] = WorkQueue()
    calls: list[str] = []

    def reconcile(key: str) -> float | None:
        calls.append(key)
        if key == "bad":
            raise RuntimeError("boom")
        return None

    start_workers(queue, reconcile, 1, "test")  # one worker: "good" runs only if it survived "bad"
    queue.add("bad")
    queue.add("good", delay=0.05)
    deadline = time.monotonic() + 2
    while "good" not in calls and time.monotonic() < deadline:
        time.sleep(0.01)
    queue.stop()
    assert calls == ["bad", "good"]
    assert len(queue) == 1  # "bad" is queued again (after a pause), not dropped


def test_urgent_keys_go_before_due_keys_that_are_not():
    queue: WorkQueue[str] = WorkQueue()
    for i in range(5):
        queue.add(f"create-{i}")
    queue.add("status", urgent=True)
    queue.add("create-3", urgent=True)  # a queued key made urgent moves up, keeping its place in time
    taken = [queue.get() for _ in range(6)]
    assert taken == ["create-3", "status", "create-0", "create-1", "create-2", "create-4"]
    for key in taken:
        queue.done(key)


def test_an_urgent_key_not_yet_due_waits_for_its_time():
    queue: WorkQueue[str] = WorkQueue()
    queue.add("later", delay=0.2, urgent=True)
    queue.add("now")
    assert queue.get() == "now"
    queue.done("now")
    assert queue.get() == "later"


def test_urgency_added_while_a_worker_holds_the_key_is_kept():
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    assert queue.get() == "a"
    queue.add("b")
    queue.add("a", urgent=True)  # while held: again after done, urgent
    queue.done("a")
    assert queue.get() == "a"


def test_a_stopped_reconciler_says_whether_a_reconcile_is_still_under_way() -> None:
    """A leader hands its Lease over only once no reconcile of it can still write (main._hand_over)."""
    started, finish = threading.Event(), threading.Event()
    done: list[str] = []

    def reconcile(key: str) -> None:
        started.set()
        finish.wait(5)
        done.append(key)

    reconciler: Reconciler[str] = Reconciler("test", reconcile, workers=2)
    reconciler.start(lambda: True)
    reconciler.queue.add("a")
    assert started.wait(5)
    reconciler.queue.add("b", delay=0.5)
    assert reconciler.stop(timeout=0.1) is False  # "a" is still being reconciled
    finish.set()
    assert reconciler.stop(timeout=5) is True
    time.sleep(0.6)
    assert done == ["a"]  # "b", due after the stop, is never taken


def test_events_drain_waits_for_the_queued_events_to_be_handled(monkeypatch) -> None:
    """The poster here is a plain consumer of the queue (no API): drain() waits on its task_done()."""
    queued: queue_module.Queue[dict[str, object]] = queue_module.Queue()
    monkeypatch.setattr(events, "_queue", queued)
    monkeypatch.setattr(events, "_thread", None)
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "n"}}
    assert events.drain(0.1) is True  # nothing queued
    events.post(obj, "Normal", "First", "m")
    events.post(obj, "Normal", "Second", "m")
    assert events.drain(0.1) is False  # queued, and no poster
    handled: list[object] = []

    def consume() -> None:
        while True:
            event = queued.get()
            time.sleep(0.05)
            handled.append(event["reason"])
            queued.task_done()

    poster = threading.Thread(target=consume, daemon=True)
    monkeypatch.setattr(events, "_thread", poster)
    poster.start()
    assert events.drain(5) is True
    assert handled == ["First", "Second"]
