"""Kubernetes Events posted from the reconciler's worker threads, in the background.

kopf's own kopf.event() works only inside a kopf handler; the ECSTask workers run outside them.
A bounded queue and one thread keep a slow or refused Event (its namespace is being deleted) from
holding up any reconcile.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from typing import Any

from kubernetes.client.exceptions import ApiException

from ..ecs.conditions import now
from . import kube

log = logging.getLogger(__name__)

COMPONENT = "ecs-operator"
_queue: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=20000)
_thread: threading.Thread | None = None


def post(obj: dict[str, Any], type_: str, reason: str, message: str) -> None:
    """Queue an Event about `obj` (a watched object: apiVersion, kind, metadata)."""
    meta = obj["metadata"]
    stamp = now()
    event = {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"generateName": f"{meta['name'][:200]}.", "namespace": meta["namespace"]},
        "involvedObject": {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "name": meta["name"],
                           "namespace": meta["namespace"], "uid": meta.get("uid")},
        "type": type_, "reason": reason, "message": message[:1024],
        "source": {"component": COMPONENT}, "reportingComponent": COMPONENT,
        "reportingInstance": os.environ.get("HOSTNAME", COMPONENT),
        "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
    }
    try:
        _queue.put_nowait(event)
    except queue.Full:
        log.warning("dropped Event %s %s/%s: the Event queue is full", reason, meta["namespace"], meta["name"])


def _post_loop() -> None:
    while True:
        event = _queue.get()
        try:
            _post(event)
        finally:
            _queue.task_done()


def _post(event: dict[str, Any]) -> None:
    for attempt in range(2):
        try:
            kube.send("POST", kube.core_path("events", event["metadata"]["namespace"]), event, decode=False)
            break
        except ApiException as err:
            if err.status in (403, 404, 409, 422) or attempt:
                # The namespace is going away, or the Event is malformed: retrying cannot help.
                log.warning("Event %s not posted: %s", event["reason"], err.reason)
                break
        except Exception as err:  # the network: one retry, then the Event is dropped
            if attempt:
                log.warning("Event %s not posted: %s", event["reason"], err)


def start() -> None:
    global _thread
    if _thread is None:
        _thread = threading.Thread(target=_post_loop, name="events", daemon=True)
        _thread.start()


def drain(timeout: float) -> bool:
    """Waits up to `timeout` for the Events queued to be posted (or dropped); True when none is left."""
    deadline = time.monotonic() + timeout
    with _queue.all_tasks_done:
        while _queue.unfinished_tasks:
            left = deadline - time.monotonic()
            if left <= 0 or _thread is None:
                return False
            _queue.all_tasks_done.wait(left)
    return True
