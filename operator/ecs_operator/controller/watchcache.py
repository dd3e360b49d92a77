"""A watched cache of one kind of object: list, then watch, as client-go's reflector does.

Why not kopf's indexes for the objects the ECSTask reconciler reads: kopf runs every watch event
of every object through its handler machinery (a memory record per object, causes, handler
invocations with their keyword arguments), which measured a third of the operator's CPU per task
(py-spy, `make bench`). Here an event costs its JSON decoding, one `keep()` and, when what is
kept changed, one callback with the key.

The reflector's semantics: a full list (paged), then a watch from the list's resourceVersion with
bookmarks. A stream the server ends is watched again from the last version; 410 Gone (the watch
fell behind etcd's compaction), a broken stream or a silent one (nothing, not even a bookmark,
for `inactivity` seconds: a stalled connection) start over with a list, and a list replaces the
cache, so deletions missed meanwhile are reported too.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from kubernetes.client.exceptions import ApiException

from . import metrics

log = logging.getLogger(__name__)

V = TypeVar("V")
Key = tuple[str, str]  # (namespace, name); "" as the namespace of cluster-scoped objects
# What changed: the key, the value kept before (None: new) and now (None: deleted).
OnChange = Callable[[Key, Any, Any], None]
# The two requests a reflector makes (kube.send and kube.stream): a GET decoded, and a GET streamed.
Get = Callable[..., Any]
Stream = Callable[[str, dict[str, Any], float], Any]

PAGE = 500  # objects per list request: a page of Pods is a few MiB at most
_GLOB = set("*?[")


@dataclass(frozen=True)
class Scope:
    """The namespaces served, as `ecs-operator run --namespace` takes them: names or globs ('!' excludes).

    Plain names are listed and watched one namespace at a time (a Role in each suffices); globs,
    or no namespaces at all, are watched cluster-wide and filtered here.
    """

    namespaces: tuple[str, ...] = ()

    @functools.cached_property
    def per_namespace(self) -> bool:
        return bool(self.namespaces) and not any(_GLOB & set(n) or n.startswith("!") for n in self.namespaces)

    def watched(self) -> list[str | None]:
        """The namespaces to list and watch one by one, or [None]: all at once."""
        return list(self.namespaces) if self.per_namespace else [None]

    def admits(self, namespace: str) -> bool:
        if not namespace or not self.namespaces or self.per_namespace:
            return True  # cluster-scoped, all namespaces, or a watch of that namespace alone
        included = [p for p in self.namespaces if not p.startswith("!")]
        excluded = [p[1:] for p in self.namespaces if p.startswith("!")]
        return ((not included or any(fnmatch.fnmatchcase(namespace, p) for p in included))
                and not any(fnmatch.fnmatchcase(namespace, p) for p in excluded))


class _Expired(Exception):
    """410 Gone: the version watched from is older than etcd keeps; only a new list helps."""


def _gone(err: Exception) -> bool:
    return isinstance(err, _Expired) or (isinstance(err, ApiException) and err.status == 410)


class WatchCache(Generic[V]):
    """Objects of one kind, kept as `keep(object)` by key; subscribers hear of every difference.

    One cache per kind serves every reconciler: each subscribes (`on_change` at construction,
    more with `subscribe`) and maps a change to the keys it affects. Subscribers are called in
    the order they subscribed, so an index kept by the first is current for the ones after it.

    `path(namespace)` is the collection's URL path (namespace None: across all namespaces, or a
    cluster-scoped kind). Reads are safe from any thread; only the reflector threads write.
    """

    def __init__(self, kind: str, path: Callable[[str | None], str], keep: Callable[[dict[str, Any]], V],
                 on_change: OnChange | None = None, *, get: Get, stream: Stream,
                 scope: Scope = Scope(), label_selector: str | None = None, namespaced: bool = True,
                 inactivity: float = 70.0, server_timeout: int = 300,
                 decode: Callable[[bytes], dict[str, Any]] = json.loads) -> None:
        self.kind, self.path, self.keep = kind, path, keep
        self.decode = decode  # a watch event's line → the event (controller/decoding.py: only what is kept)
        self._subscribers: list[OnChange] = [on_change] if on_change is not None else []
        self.get_json, self.stream = get, stream
        self.scope, self.label_selector, self.namespaced = scope, label_selector, namespaced
        self.inactivity, self.server_timeout = inactivity, server_timeout
        self._items: dict[Key, V] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.metrics = metrics.watch_metrics(self)
        self._reflectors = [_Reflector(self, ns) for ns in (scope.watched() if namespaced else [None])]

    def subscribe(self, on_change: OnChange) -> None:
        """Hear of every change from now on (subscribe before `start`, to hear of the first list too)."""
        self._subscribers.append(on_change)

    # ---------------------------------------------------------------- reading

    def get(self, key: Key) -> V | None:
        return self._items.get(key)

    def keys(self) -> list[Key]:
        with self._lock:
            return list(self._items)

    def items(self) -> list[tuple[Key, V]]:
        with self._lock:
            return list(self._items.items())

    def __len__(self) -> int:
        return len(self._items)

    @property
    def synced(self) -> bool:
        """Every collection has been listed once: the cache is complete (if maybe a moment behind)."""
        return all(r.synced.is_set() for r in self._reflectors)

    def wait_synced(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        for reflector in self._reflectors:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not reflector.synced.wait(left):
                return False
        return True

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> None:
        for reflector in self._reflectors:
            reflector.start()

    def stop(self) -> None:
        self._stopping.set()
        for reflector in self._reflectors:
            reflector.close()

    # ---------------------------------------------------------------- writing (reflector threads)

    def _key(self, obj: dict[str, Any]) -> Key:
        meta = obj["metadata"]
        return (meta.get("namespace") or "", meta["name"])

    def _put(self, obj: dict[str, Any]) -> None:
        key = self._key(obj)
        if not self.scope.admits(key[0]):
            return
        value = self.keep(obj)
        with self._lock:
            old = self._items.get(key)
            self._items[key] = value
        if old != value:
            self._changed(key, old, value)

    def _drop(self, key: Key) -> None:
        with self._lock:
            old = self._items.pop(key, None)
        if old is not None:
            self._changed(key, old, None)

    def _replace(self, namespace: str | None, objects: list[dict[str, Any]]) -> None:
        """A fresh list of one collection: what it lacks has gone (a deletion the watch missed)."""
        listed = set()
        for obj in objects:
            listed.add(self._key(obj))
            self._put(obj)
        with self._lock:
            gone = [k for k in self._items if k not in listed and (namespace is None or k[0] == namespace)]
        for key in gone:
            self._drop(key)

    def _changed(self, key: Key, old: Any, new: Any) -> None:
        for on_change in self._subscribers:
            try:
                on_change(key, old, new)
            except Exception:  # a bug in a callback must not stop the watch (nor the other subscribers)
                log.exception("%s %s/%s: change callback failed", self.kind, *key)


class _Reflector(threading.Thread):
    """List and watch one collection (one namespace, or all) into its cache, for good."""

    def __init__(self, cache: WatchCache[Any], namespace: str | None) -> None:
        super().__init__(daemon=True, name=f"watch {cache.kind} {namespace or '*'}")
        self.cache, self.namespace = cache, namespace
        self.synced = threading.Event()
        self._response: Any = None

    def close(self) -> None:
        response = self._response
        if response is not None:
            try:
                response.shutdown() if hasattr(response, "shutdown") else response.close()
            except Exception:  # closing a stream on the way out: nothing more to do about it
                log.debug("closing %s", self.name, exc_info=True)

    def run(self) -> None:
        cache = self.cache
        failures = 0
        watches = 0
        while not cache._stopping.is_set():
            try:
                version = self._list()
                failures = 0
                while not cache._stopping.is_set():
                    if watches:
                        cache.metrics.restarts.inc()
                    watches += 1
                    version = self._watch(version)
            except Exception as err:  # a broken or stalled connection, an apiserver restart
                if cache._stopping.is_set():
                    return
                if _gone(err):
                    cache.metrics.relist_expired.inc()
                    log.info("%s: watch expired (410 Gone); listing again", self.name)
                    continue
                cache.metrics.relist_error.inc()
                delay = min(5.0, 0.5 * 2 ** failures)
                failures += 1
                log.warning("%s: %s; listing again in %.1f s", self.name, _describe(err), delay)
                cache._stopping.wait(delay)

    def _list(self) -> str:
        objects: list[dict[str, Any]] = []
        token = None
        while True:
            page = self.cache.get_json("GET", self.cache.path(self.namespace), query={
                "labelSelector": self.cache.label_selector, "limit": PAGE, "continue": token})
            objects.extend(page.get("items") or [])
            token = page["metadata"].get("continue")
            if not token:
                break
        self.cache._replace(self.namespace, objects)
        self.synced.set()
        return str(page["metadata"]["resourceVersion"])

    def _watch(self, version: str) -> str:
        """One watch request, until the server ends it; the last resourceVersion seen."""
        cache = self.cache
        timeout = int(cache.server_timeout * random.uniform(0.9, 1.0))  # spread the reconnects
        stream = self._response = cache.stream(cache.path(self.namespace), {
            "watch": "true", "resourceVersion": version, "allowWatchBookmarks": "true",
            "timeoutSeconds": timeout, "labelSelector": cache.label_selector}, cache.inactivity)
        finished = False
        counters = cache.metrics.events
        try:
            for event in _events(stream, cache.decode):
                kind = event.get("type")
                counter = counters.get(kind)  # type: ignore[arg-type]
                if counter is not None:
                    counter.inc()
                obj = event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        raise _Expired()
                    raise ApiException(status=obj.get("code"), reason=obj.get("reason"), body=obj.get("message"))
                version = str(obj["metadata"]["resourceVersion"])
                if kind in ("ADDED", "MODIFIED"):
                    cache._put(obj)
                elif kind == "DELETED":
                    cache._drop(cache._key(obj))
                if cache._stopping.is_set():
                    break
            else:
                finished = True
        finally:
            self._response = None
            if not finished:
                stream.close()  # broken off: a half-read connection must never serve another request
            stream.release_conn()  # back to the pool (a closed one is re-opened when next taken)
        return version


def _events(response: Any, decode: Callable[[bytes], dict[str, Any]] = json.loads) -> Iterator[dict[str, Any]]:
    """One event per line. (The client's iter_resp_lines copies the rest of its buffer at every line.)"""
    pending = b""
    for chunk in response.stream(amt=None, decode_content=False):
        pending = pending + chunk if pending else chunk
        if b"\n" not in chunk:
            continue
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if line:
                yield decode(line)


def _describe(err: Exception) -> str:
    if isinstance(err, ApiException):
        return f"{err.status} {err.reason}"
    return f"{type(err).__name__}: {err}"
