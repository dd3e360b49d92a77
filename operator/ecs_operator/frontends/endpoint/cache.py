"""The endpoint's reads from watched caches instead of the API server.

Measured (bench/bench_endpoint.py): a RunTask through the endpoint that reads and polls the API
server costs the endpoint and kube-apiserver about twice the CPU of creating the ECSTask directly,
and DescribeTasks lists every ECSTask of the namespace per call. So the endpoint keeps one
list-watch per kind (the operator's reflector, `controller.watchcache`), and an API layer
session reads from it: `get` and `list` answer from memory, and waiting for the operator polls
memory. Writes still go to the API server, and an object a cache does not have yet is read from
the API server, so a caller reads its own writes whichever replica it reaches.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from kubernetes import client

from ...api.session import Session
from ...controller import decoding, kube
from ...controller.watchcache import Key, WatchCache

T = TypeVar("T")
KINDS = ("ecsclusters", "ecstaskdefinitions", "ecstasks", "ecsservices")
POLL_SECONDS = 0.2  # waiting for the operator: woken by the change, else probe again this often
CONFIG_MAP_TTL = 60.0  # a revision's body never changes; a deleted family's ConfigMap may come back


def _pack(obj: dict[str, Any]) -> str:
    """An object as compact JSON text (its watch events were decoded without managedFields): a
    third of its size as dicts, and every reader decodes its own copy (the API layer may change
    what it reads)."""
    metadata = {k: v for k, v in obj["metadata"].items() if k != "managedFields"}  # (a list has them)
    return decoding.pack({**obj, "metadata": metadata})


class Caches:
    """One list-watch per ECS kind, across all namespaces, shared by every request."""

    def __init__(self, api_client: client.ApiClient):
        kube.use(api_client)
        self.kinds: dict[str, WatchCache[str]] = {
            plural: WatchCache(plural, partial(kube.custom_path, plural), _pack, get=kube.send, stream=kube.stream,
                               decode=decoding.decoder("custom"))
            for plural in KINDS}
        self._config_maps: dict[tuple[str, str], tuple[float, dict[str, str]]] = {}
        self._lock = threading.Lock()
        # task id (32 hex) → the ECSTask whose status records it: DescribeTasks, StopTask and tags
        # read the ECSTasks they name, not the namespace's every one.
        self._task_index: dict[str, Key] = {}
        # what requests wait for (the operator's answer): woken when the object changes
        self._waiters: dict[tuple[str, Key], set[threading.Event]] = {}
        for plural, cache in self.kinds.items():
            cache.subscribe(partial(self._changed, plural))

    def start(self, timeout: float = 60.0) -> None:
        for cache in self.kinds.values():
            cache.start()
        for cache in self.kinds.values():
            if not cache.wait_synced(timeout):
                raise TimeoutError(f"could not list {cache.kind} within {timeout:.0f} s: check the endpoint's RBAC "
                                   "(list and watch on the ECS custom resources)")

    def stop(self) -> None:
        for cache in self.kinds.values():
            cache.stop()

    def _changed(self, plural: str, key: Key, old: str | None, new: str | None) -> None:
        if plural == "ecstasks":
            gone, came = _task_ids(old), _task_ids(new)
            with self._lock:
                for task_id in gone - came:
                    self._task_index.pop(task_id, None)
                for task_id in came:
                    self._task_index[task_id] = key
        with self._lock:
            waiting = list(self._waiters.get((plural, key), ()))
        for event in waiting:
            event.set()

    def task_keys(self, task_ids: set[str]) -> set[Key]:
        with self._lock:
            return {key for task_id in task_ids if (key := self._task_index.get(task_id)) is not None}

    def wait_for_change(self, keys: set[tuple[str, Key]], timeout: float) -> None:
        """Until one of these objects changes, or `timeout` seconds."""
        event = threading.Event()
        with self._lock:
            for key in keys:
                self._waiters.setdefault(key, set()).add(event)
        try:
            event.wait(timeout)
        finally:
            with self._lock:
                for key in keys:
                    waiting = self._waiters.get(key)
                    if waiting is not None:
                        waiting.discard(event)
                        if not waiting:
                            del self._waiters[key]

    def config_map(self, namespace: str, name: str, read: Callable[[], dict[str, str]]) -> dict[str, str]:
        moment = time.monotonic()
        with self._lock:
            cached = self._config_maps.get((namespace, name))
        if cached is not None and cached[0] > moment:
            return cached[1]
        data = read()
        with self._lock:
            if len(self._config_maps) > 4096:
                self._config_maps.clear()
            self._config_maps[(namespace, name)] = (moment + CONFIG_MAP_TTL, data)
        return data


class CachedSession(Session):
    """An API layer session whose reads come from `Caches` (see the module's docstring)."""

    def __init__(self, api_client: client.ApiClient, namespace: str, caches: Caches):
        super().__init__(api_client, namespace)
        self.caches = caches
        self._fresh = False  # read-modify-write reads the API server (the cache may be a moment behind)
        self._reads: set[tuple[str, Key]] | None = None  # what a `wait` probe reads
        # objects this request created: the watch brings them; asking the API server meanwhile
        # (a wait's probe, every time it looks) cost a GET per RunTask
        self._created: set[tuple[str, str]] = set()

    def get(self, plural: str, name: str) -> dict[str, Any] | None:
        cache = self.caches.kinds.get(plural)
        if cache is not None and not self._fresh:
            if self._reads is not None:
                self._reads.add((plural, (self.namespace, name)))
            packed = cache.get((self.namespace, name))
            if packed is not None:
                found: dict[str, Any] = decoding.unpack(packed)
                return found
            if (plural, name) in self._created:
                return None  # made a moment ago: on its way in the watch
        return super().get(plural, name)  # not in the cache (yet): the API server says

    def peek(self, plural: str, name: str) -> dict[str, Any] | None:
        cache = self.caches.kinds.get(plural)
        if cache is None:
            return super().peek(plural, name)
        packed = cache.get((self.namespace, name))
        return decoding.unpack(packed) if packed is not None else None

    def tasks_with_ids(self, task_ids: set[str]) -> list[dict[str, Any]]:
        keys = self.caches.task_keys(task_ids)
        objects = [self.get("ecstasks", name) for namespace, name in sorted(keys) if namespace == self.namespace]
        return [obj for obj in objects if obj is not None]

    def list(self, plural: str, label_selector: str = "") -> list[dict[str, Any]]:
        cache = self.caches.kinds.get(plural)
        wanted = _equalities(label_selector)
        if cache is None or wanted is None:
            return super().list(plural, label_selector)
        items = []
        for (namespace, _), packed in cache.items():
            if namespace == self.namespace:
                obj = decoding.unpack(packed)
                labels = obj["metadata"].get("labels") or {}
                if all(labels.get(k) == v for k, v in wanted.items()):
                    items.append(obj)
        return sorted(items, key=lambda o: o["metadata"]["name"])  # the API server's order

    def _post(self, plural: str, body: dict[str, Any]) -> dict[str, Any]:
        """Through kube.send (one json.dumps over the client's pool): the generated client's argument
        validation and sanitizing cost the endpoint a millisecond per RunTask. What it created is
        remembered: the watch brings it."""
        created: dict[str, Any] = kube.send("POST", kube.custom_path(plural, self.namespace), body)
        self._created.add((plural, created["metadata"]["name"]))
        return created

    def update(self, plural: str, name: str, change: Callable[[dict[str, Any]], dict[str, Any] | None],
               attempts: int = 5) -> dict[str, Any] | None:
        self._fresh = True
        try:
            return super().update(plural, name, change, attempts)
        finally:
            self._fresh = False

    def config_map_data(self, name: str) -> dict[str, str]:
        return self.caches.config_map(self.namespace, name, lambda: super(CachedSession, self).config_map_data(name))

    def wait(self, probe: Callable[[], T | None]) -> T | None:
        """`probe()` again whenever an object it read changes (or every POLL_SECONDS, for what it
        read from the API server), until it is truthy or `wait_seconds` have passed."""
        deadline = time.monotonic() + self.wait_seconds
        while True:
            self._reads = set()
            try:
                value = probe()
                reads = self._reads
            finally:
                self._reads = None
            left = deadline - time.monotonic()
            if value or left <= 0:
                return value
            self.caches.wait_for_change(reads, min(left, POLL_SECONDS))


def _task_ids(packed: str | None) -> set[str]:
    if packed is None:
        return set()
    records = (decoding.unpack(packed).get("status") or {}).get("tasks") or []
    return {r["taskArn"].rsplit("/", 1)[-1] for r in records if r.get("taskArn")}


def _equalities(selector: str) -> dict[str, str] | None:
    """`a=b,c=d` as a dict; None for any other selector (then the API server selects)."""
    wanted = {}
    for term in filter(None, (t.strip() for t in selector.split(","))):
        key, sep, value = term.partition("=")
        if not sep or value.startswith("=") or key.endswith("!") or any(c in key + value for c in "()! "):
            return None
        wanted[key] = value
    return wanted
