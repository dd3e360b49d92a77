"""The operator's Prometheus metrics (prometheus-client), served on `--metrics-bind-address`.

Names follow Prometheus's conventions: prefix `ecs_operator_`, the unit in the name (`_seconds`),
`_total` on counters. No label takes an unbounded value: never a task, Pod or service name or id.
The domain gauges are labelled by `namespace` and `cluster` (an ECSCluster's name; clusters are few,
created by administrators, and a cluster's name alone is ambiguous: ECSClusters are namespaced).

Cheap by construction, because the hot loops (a watch event, a work-queue add, an API request)
run thousands of times per burst:
- what can be read when scraped is read when scraped, by collectors: work-queue depth, objects
  per cache, and the domain gauges (tasks by lastStatus, services by rollout state, container
  instances by status), computed from the watched caches, so an event costs nothing for them;
- the rest are counters and histograms whose labelled children are bound once (per queue, per
  reconciler, per watched kind, per (verb, resource, code) of API request) and kept, so an
  increment is an attribute read and a locked add, never a label lookup.

The work-queue metrics are client-go's (`workqueue_*`, labelled by the queue's name), the
reconcile metrics controller-runtime's (`reconcile_total` by result, `reconcile_errors_total`,
the duration), the API request metrics client-go's rest client's (by verb, resource and code).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import weakref
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator
from functools import wraps
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import urlsplit

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..ecs.status import node_matches
from ..ecs.translate import default_node_selector

if TYPE_CHECKING:
    from .caches import Caches

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

# Seconds: from a millisecond (a reconcile served from the caches) to a minute (a key delayed
# behind a burst, a slow API call).
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

# --------------------------------------------------------------------------- work queues

QUEUE_ADDS = Counter("ecs_operator_workqueue_adds_total",
                     "Keys added to a work queue (an add of a key already queued as soon or sooner is not counted)",
                     ["name"])
QUEUE_DURATION = Histogram("ecs_operator_workqueue_queue_duration_seconds",
                           "Seconds a key waited in a work queue from when it was due until a worker took it",
                           ["name"], buckets=BUCKETS)
WORK_DURATION = Histogram("ecs_operator_workqueue_work_duration_seconds",
                          "Seconds a worker spent on one key", ["name"], buckets=BUCKETS)
QUEUE_RETRIES = Counter("ecs_operator_workqueue_retries_total",
                        "Keys queued again to retry: after a failed reconcile, or a backoff while something is "
                        "missing", ["name"])


class QueueMetrics:
    """One work queue's children, bound once."""

    __slots__ = ("adds", "queue_duration", "retries", "work_duration")

    def __init__(self, name: str) -> None:
        self.adds = QUEUE_ADDS.labels(name)
        self.queue_duration = QUEUE_DURATION.labels(name)
        self.work_duration = WORK_DURATION.labels(name)
        self.retries = QUEUE_RETRIES.labels(name)


class _Sized(Protocol):
    name: str

    def __len__(self) -> int: ...


_queues: weakref.WeakSet[Any] = weakref.WeakSet()
_current = threading.local()  # the queue a worker thread serves (for retries counted by a Backoff)


def queue_metrics(queue: _Sized) -> QueueMetrics:
    """Children for a named work queue; its depth is read when scraped."""
    _queues.add(queue)
    return QueueMetrics(queue.name)


def serving(queue: QueueMetrics | None) -> None:
    """Called by a worker thread once: which queue's retries it counts."""
    _current.queue = queue


def retried() -> None:
    """A key of the calling worker's queue will be retried (a Backoff delay)."""
    queue: QueueMetrics | None = getattr(_current, "queue", None)
    if queue is not None:
        queue.retries.inc()


# --------------------------------------------------------------------------- reconciles

RECONCILES = Counter("ecs_operator_reconcile_total",
                     "Reconciles per resource, by result: success, requeue (looks again later) or error",
                     ["resource", "result"])
RECONCILE_ERRORS = Counter("ecs_operator_reconcile_errors_total", "Reconciles that raised an error, per resource",
                           ["resource"])
RECONCILE_DURATION = Histogram("ecs_operator_reconcile_duration_seconds", "Seconds one reconcile took, per resource",
                               ["resource"], buckets=BUCKETS)


class ReconcileMetrics:
    __slots__ = ("duration", "error", "errors", "requeue", "success")

    def __init__(self, resource: str) -> None:
        self.success = RECONCILES.labels(resource, "success")
        self.requeue = RECONCILES.labels(resource, "requeue")
        self.error = RECONCILES.labels(resource, "error")
        self.errors = RECONCILE_ERRORS.labels(resource)
        self.duration = RECONCILE_DURATION.labels(resource)

    def done(self, seconds: float, again: float | None) -> None:
        self.duration.observe(seconds)
        (self.success if again is None else self.requeue).inc()

    def failed(self, seconds: float) -> None:
        self.duration.observe(seconds)
        self.error.inc()
        self.errors.inc()


def reconciled(resource: str) -> Callable[[F], F]:
    """For kopf's handlers: counted and timed as reconciles of `resource`. kopf's TemporaryError
    (retried later) counts as a requeue, any other exception as an error."""
    bound = ReconcileMetrics(resource)

    def decorate(handler: F) -> F:
        @wraps(handler)
        def counted(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                result = handler(*args, **kwargs)
            except Exception as err:
                if type(err).__name__ == "TemporaryError":
                    bound.done(time.perf_counter() - started, 1.0)
                else:
                    bound.failed(time.perf_counter() - started)
                raise
            bound.done(time.perf_counter() - started, None)
            return result

        return counted  # type: ignore[return-value]

    return decorate


# --------------------------------------------------------------------------- Kubernetes API requests

KUBE_REQUESTS = Counter("ecs_operator_kube_requests_total",
                        "Kubernetes API requests, by verb, resource (plural[/subresource]) and HTTP code "
                        "(<error>: no answer)", ["verb", "resource", "code"])
KUBE_DURATION = Histogram("ecs_operator_kube_request_duration_seconds",
                          "Seconds until the apiserver's answer (a watch: its headers), by verb and resource",
                          ["verb", "resource"], buckets=BUCKETS)
NO_ANSWER = "<error>"

_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}
_request_children: dict[tuple[str, str, str], Any] = {}
_duration_children: dict[tuple[str, str], Any] = {}


def request_kind(method: str, path: str, watch: bool = False) -> tuple[str, str]:
    """(verb, resource) of an API request: ("list", "pods"), ("update", "ecstasks/status") …"""
    parts = path.strip("/").split("/")
    if parts[0] == "api":
        rest = parts[2:]
    elif parts[0] == "apis":
        rest = parts[3:]
    else:
        return method.lower(), "other"
    if len(rest) >= 3 and rest[0] == "namespaces":
        rest = rest[2:]  # namespaces/<ns>/<plural>/…
    if not rest or not rest[0]:
        return method.lower(), "other"
    resource = rest[0] + (f"/{rest[2]}" if len(rest) > 2 else "")
    collection = len(rest) == 1
    if method == "GET":
        verb = ("watch" if watch else "list") if collection else "get"
    elif method == "DELETE":
        verb = "deletecollection" if collection else "delete"
    else:
        verb = _VERBS.get(method, method.lower())
    return verb, resource


def observe_request(verb: str, resource: str, code: int | str, seconds: float) -> None:
    key = (verb, resource, str(code))
    counter = _request_children.get(key)
    if counter is None:
        counter = _request_children[key] = KUBE_REQUESTS.labels(*key)
    counter.inc()
    histogram = _duration_children.get(key[:2])
    if histogram is None:
        histogram = _duration_children[key[:2]] = KUBE_DURATION.labels(verb, resource)
    histogram.observe(seconds)


def observed_client_request(request: Callable[..., Any]) -> Callable[..., Any]:
    """The generated client's `RESTClientObject.request`, counted and timed (every call of the
    client's generated API methods goes through it)."""

    def counted(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        parts = urlsplit(url)
        verb, resource = request_kind(method, parts.path, "watch=true" in parts.query)
        started = time.perf_counter()
        code: int | str = NO_ANSWER
        try:
            response = request(method, url, *args, **kwargs)
            code = getattr(response, "status", NO_ANSWER)
            return response
        except Exception as err:
            code = getattr(err, "status", None) or NO_ANSWER
            raise
        finally:
            observe_request(verb, resource, code, time.perf_counter() - started)

    return counted


# --------------------------------------------------------------------------- watches

WATCH_EVENTS = Counter("ecs_operator_watch_events_total", "Watch events received, by kind and event type",
                       ["kind", "type"])
WATCH_RESTARTS = Counter("ecs_operator_watch_restarts_total",
                         "Watch requests opened again after the first (the server ended one, or it broke)", ["kind"])
WATCH_RELISTS = Counter("ecs_operator_watch_relists_total",
                        "Full lists after the first: expired (410 Gone) or error (a broken or stalled stream)",
                        ["kind", "reason"])
_EVENT_TYPES = ("ADDED", "MODIFIED", "DELETED", "BOOKMARK")


class WatchMetrics:
    """One watched kind's children, bound once."""

    __slots__ = ("events", "relist_error", "relist_expired", "restarts")

    def __init__(self, kind: str) -> None:
        self.events = {t: WATCH_EVENTS.labels(kind, t) for t in _EVENT_TYPES}
        self.restarts = WATCH_RESTARTS.labels(kind)
        self.relist_expired = WATCH_RELISTS.labels(kind, "expired")
        self.relist_error = WATCH_RELISTS.labels(kind, "error")


_caches: weakref.WeakSet[Any] = weakref.WeakSet()


def watch_metrics(cache: Any) -> WatchMetrics:
    """Children for a watched cache (`kind`, `len()`); its object count is read when scraped."""
    _caches.add(cache)
    return WatchMetrics(cache.kind)


class _RuntimeCollector(Collector):
    """Work-queue depth and cached objects, read when scraped."""

    def collect(self) -> Iterator[Metric]:
        depth: Tally[tuple[str]] = Tally()
        for queue in list(_queues):
            depth[(queue.name,)] += len(queue)
        yield _gauge("ecs_operator_workqueue_depth", "Keys waiting in a work queue (due or delayed)", ["name"], depth)
        objects: Tally[tuple[str]] = Tally()
        for cache in list(_caches):
            objects[(cache.kind,)] += len(cache)
        yield _gauge("ecs_operator_cache_objects", "Objects held by a watched cache, by kind", ["kind"], objects)


def _gauge(name: str, documentation: str, labels: list[str], counts: Tally[Any]) -> GaugeMetricFamily:
    """A gauge with one sample per key of `counts` (a tuple of label values, in `labels`' order),
    sorted: what every collector here reports."""
    family = GaugeMetricFamily(name, documentation, labels=labels)
    for values, count in sorted(counts.items()):
        family.add_metric(list(values), count)
    return family


REGISTRY.register(_RuntimeCollector())

# --------------------------------------------------------------------------- leader, domain figures
# Registered by the operator process only (`enable_operator_metrics`): the ECS endpoint uses the
# watched caches and the API helpers above, but it leads nothing and reconciles nothing.

LEADER = Gauge("ecs_operator_leader", "1 while this replica leads (reconciles), 0 while it stands by",
               registry=None)
LEADER.set(1)  # no election: the only replica leads
PLACEMENT_FAILURES = Counter("ecs_operator_placement_failures_total",
                             "Tasks that could not be placed, by ECS's reason (RESOURCE:CPU, RESOURCE:MEMORY, "
                             "RESOURCE:PORTS, MISSING …), counted when the reason is first reported", ["reason"],
                             registry=None)
_leading = True


def set_leader(leading: bool) -> None:
    """For leader election: 1 while this replica leads, 0 while it stands by. Without an election
    nobody calls it and the gauge stays 1. A standby's domain gauges are empty (the leader's count)."""
    global _leading
    _leading = leading
    LEADER.set(1 if leading else 0)


def placement_failed(failures: Iterable[dict[str, Any]]) -> None:
    """A task that cannot be placed, with ECS's failures (one count per reason)."""
    for failure in failures:
        PLACEMENT_FAILURES.labels(str(failure.get("reason") or "UNKNOWN")[:64]).inc()


class DomainCollector(Collector):
    """ECS's figures from the operator's watched caches, computed when scraped (no cost per event)."""

    def __init__(self) -> None:
        self.caches: Caches | None = None

    def collect(self) -> Iterator[Metric]:
        caches = self.caches
        if caches is None or not _leading:
            return
        started = time.perf_counter()
        yield from self._tasks(caches)
        yield from self._services(caches)
        yield from self._instances(caches)
        seconds = GaugeMetricFamily("ecs_operator_domain_collect_seconds",
                                    "Seconds the last scrape spent computing the ECS gauges from the caches")
        seconds.add_metric([], time.perf_counter() - started)
        yield seconds

    @staticmethod
    def _tasks(caches: Caches) -> Iterator[Metric]:
        """Every ECS task (one ECSTask of count N is N tasks) by lastStatus; a task without a record
        yet is PROVISIONING; a run-task refused outright (failures, no record) is no task, as in ECS."""
        tally: Tally[tuple[str, str, str]] = Tally()
        for (namespace, _), entry in caches.tasks.items():
            task = json.loads(entry.packed)
            spec, status = task.get("spec") or {}, task.get("status") or {}
            cluster = str(spec.get("cluster") or "default")
            records = status.get("tasks") or []
            if records:
                for record in records:
                    tally[(namespace, cluster, str(record.get("lastStatus") or "PROVISIONING"))] += 1
            elif not status.get("failures"):
                count = spec.get("count")
                tally[(namespace, cluster, "PROVISIONING")] += count if isinstance(count, int) else 1
        yield _gauge("ecs_operator_tasks", "ECS tasks by cluster and lastStatus",
                     ["namespace", "cluster", "last_status"], tally)

    @staticmethod
    def _services(caches: Caches) -> Iterator[Metric]:
        services: Tally[tuple[str, str, str, str]] = Tally()
        tasks: Tally[tuple[str, str, str]] = Tally()
        for (namespace, _), packed in caches.services.items():
            service = json.loads(packed)
            spec, status = service.get("spec") or {}, service.get("status") or {}
            cluster = str(spec.get("cluster") or "default")
            deployments = status.get("deployments") or []
            rollout = str(deployments[0].get("rolloutState") or "NONE") if deployments else "NONE"
            services[(namespace, cluster, str(status.get("status") or "PROVISIONING"), rollout)] += 1
            for field, state in (("desiredCount", "desired"), ("runningCount", "running"),
                                 ("pendingCount", "pending")):
                value = status.get(field)
                tasks[(namespace, cluster, state)] += value if isinstance(value, int) else 0
        yield _gauge("ecs_operator_services",
                     "ECS services by cluster, status and the rollout state of their primary deployment",
                     ["namespace", "cluster", "status", "rollout_state"], services)
        yield _gauge("ecs_operator_service_tasks",
                     "Tasks of a cluster's services: desired, running and pending (their sums)",
                     ["namespace", "cluster", "state"], tasks)

    @staticmethod
    def _instances(caches: Caches) -> Iterator[Metric]:
        """Container instances (the nodes a cluster selects) by ECS status, ACTIVE or DRAINING."""
        nodes = caches.node_list()
        tally: Tally[tuple[str, str, str]] = Tally()
        for (namespace, name), spec in caches.clusters.items():
            selector = spec.get("nodeSelector") or default_node_selector(name)
            draining = set(spec.get("drainingInstances") or [])
            tally[(namespace, name, "ACTIVE")] += 0  # both statuses reported, 0 included
            tally[(namespace, name, "DRAINING")] += 0
            for node in nodes:
                if node_matches(node, selector):
                    cordoned = node["metadata"]["name"] in draining or (node.get("spec") or {}).get("unschedulable")
                    tally[(namespace, name, "DRAINING" if cordoned else "ACTIVE")] += 1
        yield _gauge("ecs_operator_container_instances", "Container instances by cluster and status (ACTIVE, DRAINING)",
                     ["namespace", "cluster", "status"], tally)


DOMAIN = DomainCollector()
_enabled = False


def watch_domain(caches: Caches) -> None:
    """The operator's caches, for the domain gauges (the latest made is the one reported)."""
    DOMAIN.caches = caches


def enable_operator_metrics() -> None:
    """Register what only the operator reports: leader status, placement failures, ECS's figures."""
    global _enabled
    if not _enabled:
        _enabled = True
        for collector in (LEADER, PLACEMENT_FAILURES, DOMAIN):
            REGISTRY.register(collector)


def parse_bind_address(address: str) -> tuple[str, int] | None:
    """`:8081`, `0.0.0.0:8081`, `127.0.0.1:8081`, `[::]:8081` → (host, port); "0" or "": off."""
    if address in ("", "0"):
        return None
    host, _, port = address.rpartition(":")
    if not port.isdigit():
        raise ValueError(f"--metrics-bind-address must be [HOST]:PORT or 0 (off), e.g. :8081; got {address!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


def serve(address: str) -> tuple[str, int] | None:
    """Serve /metrics in a background thread (prometheus-client's server); None when off."""
    bound = parse_bind_address(address)
    if bound is None:
        return None
    enable_operator_metrics()
    start_http_server(bound[1], addr=bound[0])
    print(f"serving metrics at http://{bound[0]}:{bound[1]}/metrics", flush=True)
    return bound
