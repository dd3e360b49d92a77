"""The ECSService reconciler: ECS's service scheduler, over ECSTasks of count 1.

Each service task is one ECSTask (so describe-tasks, list-tasks, stop codes, Events and the
container instance accounting work for it as for a run-task one), owned by its ECSService,
labelled with the service and its deployment, `startedBy` the deployment id and `group`
`service:<name>`; never a Deployment, ReplicaSet or DaemonSet, whose in-place restarts would hide
every failure ECS reports. A stopped task is replaced by a new one.

Level-based, on the shared kit: a change of the service, of one of its tasks, of a node or of a
cluster puts the service's key into the queue; a worker gathers the service's deployments (from
its status) and tasks (from the caches), asks the pure scheduler (ecs/scheduler.py) what to do,
creates and stops ECSTasks accordingly and writes the status. Idempotent: a new deployment is
written to the status before any of its tasks is created; task names are deterministic
(`<service>-<deployment hash>-<slot>`, the lowest free slot) and AlreadyExists counts as done, so
a restart at any point neither duplicates nor loses a task.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from typing import Any, TypeVar

import kopf
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from ..ecs import arns, scheduler, times
from ..ecs.conditions import set_condition
from ..ecs.cql import QueryError, combine_terms, terms_match
from ..ecs.errors import InvalidInput, describe_validation_error
from ..ecs.labels import (
    API_GROUP,
    API_VERSION,
    DELETE_REQUESTED_ANNOTATION,
    DEPLOYMENT_LABEL,
    EPHEMERAL_LABEL,
    SERVICE_LABEL,
    STOP_CODE_ANNOTATION,
)
from ..ecs.models import ClusterSpec
from ..ecs.scheduler import Deployment, ServiceView, TaskView
from ..ecs.services import ServiceSpec
from ..ecs.status import node_matches
from ..ecs.translate import TaskRef, default_node_selector, label_value
from . import events, kube, revisions
from .caches import Caches, pack, trim_task
from .kit import Backoff, Recent, Reconciler, StatusWriter
from .settings import SETTINGS

log = logging.getLogger(__name__)

T = TypeVar("T")

Key = tuple[str, str]  # (namespace, ECSService name)
API = f"{API_GROUP}/{API_VERSION}"
# Seconds after a task changes that its service's scheduler looks (a burst's changes coalesce).
TASK_CHANGE_DELAY = 0.25
# Seconds a created task the watch has not shown is remembered (the watch shows it long before).
RECENT = 120.0
# How a DAEMON task is pinned to its instance (a memberOf constraint, as StartTask's instances).
PIN = "ec2InstanceId == "
# ECSTasks a service scheduler step creates (or stops) at once (the API client is synchronous: threads).
CONCURRENCY = 8
# Status fields of ours beside ECS's Service shape (the API layer leaves them out).
DEPLOYMENT_EXTRA = ("revision", "reference", "token", "healthChecked", "counted", "firstRunAt")


def deployment_from_record(record: dict[str, Any]) -> Deployment:
    return Deployment(
        id=record["id"], status=record["status"], task_definition=record["taskDefinition"],
        revision=record.get("revision") or {}, reference=record.get("reference", ""), token=record.get("token"),
        created_at=times.epoch(record.get("createdAt")) or 0.0, updated_at=times.epoch(record.get("updatedAt")) or 0.0,
        rollout_state=record.get("rolloutState", scheduler.IN_PROGRESS),
        rollout_state_reason=record.get("rolloutStateReason", ""), health_checked=bool(record.get("healthChecked")),
        desired_count=record.get("desiredCount", 0), running_count=record.get("runningCount", 0),
        pending_count=record.get("pendingCount", 0), failed_tasks=record.get("failedTasks", 0),
        counted=dict(record.get("counted") or {}), first_run_at=record.get("firstRunAt"))


def deployment_record(d: Deployment) -> dict[str, Any]:
    """ECS's Deployment shape, plus what the scheduler needs (DEPLOYMENT_EXTRA)."""
    record: dict[str, Any] = {
        "id": d.id, "status": d.status, "taskDefinition": d.task_definition, "desiredCount": d.desired_count,
        "pendingCount": d.pending_count, "runningCount": d.running_count, "failedTasks": d.failed_tasks,
        "createdAt": times.rfc3339(d.created_at), "updatedAt": times.rfc3339(d.updated_at), "launchType": "EC2",
        "rolloutState": d.rollout_state, "rolloutStateReason": d.rollout_state_reason,
        "revision": d.revision, "reference": d.reference, "healthChecked": d.health_checked,
    }
    if d.token is not None:
        record["token"] = d.token
    if d.counted:
        record["counted"] = d.counted
    if d.first_run_at is not None:
        record["firstRunAt"] = d.first_run_at
    return record


def task_view(packed: str) -> TaskView:
    """A service task as the scheduler sees it, from its cached ECSTask."""
    obj = json.loads(packed)
    meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
    records = status.get("tasks") or []
    record = records[0] if records else {}
    health = [c.get("healthStatus") for c in record.get("containers", []) if c.get("healthStatus")]
    if "UNHEALTHY" in health:
        overall = "UNHEALTHY"
    elif health and all(h == "HEALTHY" for h in health):
        overall = "HEALTHY"
    else:
        overall = "UNKNOWN"
    return TaskView(
        name=meta["name"],
        task_id=record.get("taskArn", "").rsplit("/", 1)[-1] or TaskRef(meta["name"], meta["namespace"],
                                                                          meta["uid"]).task_id,
        deployment=spec.get("startedBy", ""),
        last_status=record.get("lastStatus") or status.get("lastStatus") or "",
        desired_status=spec.get("desiredStatus", "RUNNING"),
        created_at=times.epoch(meta.get("creationTimestamp")) or 0.0,
        started_at=times.epoch(record.get("startedAt")),
        stopped_at=times.epoch(record.get("stoppedAt")) or (times.epoch(meta.get("creationTimestamp"))
                                                       if status.get("lastStatus") == "STOPPED" else None),
        health=overall,
        stopped_reason=record.get("stoppedReason") or status.get("stoppedReason"),
        node=record.get("nodeName") or _pinned_node(spec),
        placement_failures=tuple(f.get("reason", "") for f in record.get("failures", [])
                                 if str(f.get("reason", "")).startswith(("RESOURCE:", "MISSING"))),
    )


def _pinned_node(spec: dict[str, Any]) -> str | None:
    """The instance a DAEMON task is pinned to (its `ec2InstanceId == <node>` constraint): where it
    belongs before the scheduler has placed it."""
    for constraint in spec.get("placementConstraints") or []:
        expression = str(constraint.get("expression") or "")
        if constraint.get("type") == "memberOf" and expression.startswith(PIN):
            return expression.removeprefix(PIN).strip() or None
    return None


def task_name(service: str, deployment_id: str, slot: int) -> str:
    """`<service>-<6 hex of the deployment>-<slot>`: at most 56 characters (Pods add `-0`)."""
    base = service if len(service) <= 40 else f"{service[:31]}-{hashlib.sha256(service.encode()).hexdigest()[:8]}"
    return f"{base}-{hashlib.sha256(deployment_id.encode()).hexdigest()[:6]}-{slot}"


def new_deployment_id() -> str:
    return f"ecs-svc/{secrets.randbelow(9 * 10**18) + 10**18}"


class ServiceReconciler:
    """ECS's service scheduler for every ECSService, from the shared caches."""

    def __init__(self, caches: Caches) -> None:
        self.caches = caches
        self.loop: Reconciler[Key] = Reconciler("ecsservice", self.reconcile, SETTINGS.service_workers)
        self.statuses = StatusWriter("ecsservices", API, "ECSService", lambda answer: pack(trim_task(answer)),
                                     self.loop.queue.add)
        # ECSTasks created that the watch has not shown yet: (namespace, task) → (service, its view,
        # when). The scheduler counts them, or a second step before the watch catches up would start
        # their like again (and could exceed maximumPercent).
        self._unseen: dict[Key, tuple[str, TaskView, float]] = {}
        # Each cached ECSTask's view, decoded once per change of it: (packed, view).
        self._views: dict[Key, tuple[str, TaskView]] = {}
        self.stopping: Recent[Key] = Recent()  # … asked to stop
        self.backoff: Backoff[Key] = Backoff()
        self._lock = threading.Lock()
        self._written_at: dict[Key, float] = {}
        caches.services.subscribe(self._service_changed)
        caches.tasks.subscribe(self._task_changed)
        caches.nodes.subscribe(self._everything_changed)
        caches.clusters.subscribe(self._namespace_changed)
        caches.families.subscribe(self._namespace_changed)

    # ---------------------------------------------------------------- changes → keys

    def _service_changed(self, key: Key, old: Any, new: Any) -> None:
        if new is None:
            self.forget(key)
        else:
            self.loop.queue.add(key)

    def _task_changed(self, key: Key, old: Any, new: Any) -> None:
        with self._lock:
            self._unseen.pop(key, None)
            if new is None:
                self._views.pop(key, None)
        if new is None or '"desiredStatus":"STOPPED"' in new.packed:  # the watch shows the stop now
            self.stopping.discard(key)
        current = new or old
        if current is not None and current.service:
            # A moment later: the changes of a burst of tasks make one scheduler step, not one each.
            self.loop.queue.add((key[0], current.service), TASK_CHANGE_DELAY)

    def _everything_changed(self, key: Key, old: Any, new: Any) -> None:
        """A node joined, left, was cordoned: DAEMON services follow, REPLICA ones replace tasks."""
        for service, _ in self.caches.services.items():
            self.loop.queue.add(service, 0.2)

    def _namespace_changed(self, key: Key, old: Any, new: Any) -> None:
        """A cluster or a task definition changed: its namespace's services may be waiting for it."""
        for service, _ in self.caches.services.items():
            if service[0] == key[0]:
                self.loop.queue.add(service, 0.2)

    def forget(self, key: Key) -> None:
        self.statuses.forget(key)
        self.backoff.reset(key)
        with self._lock:
            self._written_at.pop(key, None)

    # ---------------------------------------------------------------- reconcile

    def reconcile(self, key: Key) -> float | None:
        namespace, name = key
        packed = self.caches.services.get(key)
        obj = self.statuses.current(key, json.loads(packed) if packed is not None else None)
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            self.forget(key)  # its tasks go with it (owner references)
            return None
        status = dict(obj.get("status") or {})
        try:
            spec = ServiceSpec.model_validate(obj["spec"])
            service = spec.name(name)
        except ValidationError as err:
            return self._condition(key, obj, "InvalidService", "; ".join(describe_validation_error(err, "spec")))
        except InvalidInput as err:
            return self._condition(key, obj, "InvalidService", "; ".join(err.problems))
        deleted = obj["metadata"].get("annotations", {}).get(DELETE_REQUESTED_ANNOTATION)
        if deleted:
            return self._drain(key, obj, service, status, time.time())
        cluster_spec = self.caches.cluster_spec(namespace, spec.cluster)
        if cluster_spec is None:
            return self._condition(key, obj, "Unresolved", f"ClusterNotFoundException: cluster {spec.cluster!r} not "
                                   f"found in namespace {namespace}", retry=True)
        try:
            cluster = ClusterSpec.model_validate(cluster_spec)
        except ValidationError as err:
            return self._condition(key, obj, "Unresolved", "; ".join(describe_validation_error(err, "ECSCluster")),
                                   retry=True)
        moment = time.time()
        deployments = [deployment_from_record(r) for r in status.get("deployments") or []]
        primary = deployments[0] if deployments else None
        reference, token = spec.task_definition_ref(), spec.forceNewDeploymentToken
        if scheduler.needs_deployment(primary, reference, token):
            try:
                resolved = revisions.resolve(namespace, reference,
                                             self.caches.registrations(namespace, reference.partition(":")[0]))
            except LookupError as err:
                return self._condition(key, obj, "Unresolved", str(err), retry=True)
            except InvalidInput as err:
                return self._condition(key, obj, "TaskDefinitionRefused", "; ".join(err.problems))
            except ApiException as err:
                return self._condition(key, obj, "Unresolved", f"reading the task definition: {err.reason}", retry=True)
            if primary is not None and primary.revision == resolved.reference() and primary.token == token:
                primary.reference = reference  # the current revision named again: no deployment (`ecs scale`)
            else:
                arn = arns.task_definition_arn(resolved.family, resolved.revision, SETTINGS.region, SETTINGS.account)
                checked = any(c.essential is not False and c.healthCheck is not None
                              for c in resolved.definition.containerDefinitions)
                deployments = scheduler.new_deployment(deployments, new_deployment_id(), arn, resolved.reference(),
                                                       reference, token, checked, moment)
            # Written before any task of it is created: a restart finds the same deployment.
            self._write(key, obj, spec, service, deployments, status, [], None, moment, force=True)
            return 0.0
        self.backoff.reset(key)

        nodes = [n for n in self.caches.node_list()
                 if node_matches(n, cluster.nodeSelector or default_node_selector(spec.cluster))]
        draining = {n["metadata"]["name"] for n in nodes
                    if (n.get("spec") or {}).get("unschedulable") or n["metadata"]["name"] in
                    set(cluster.drainingInstances or [])}
        eligible: tuple[str, ...] = ()
        if spec.is_daemon:
            try:
                terms = combine_terms([c.expression for c in spec.placementConstraints or []
                                       if c.type == "memberOf" and c.expression])
            except QueryError as err:
                return self._condition(key, obj, "InvalidService", f"placementConstraints: {err}")
            eligible = tuple(sorted(n["metadata"]["name"] for n in nodes if n["metadata"]["name"] not in draining
                                    and terms_match(terms, n["metadata"].get("labels") or {})))
        low, high = spec.effective_deployment_configuration()
        breaker = spec.circuit_breaker()
        desired = len(eligible) if spec.is_daemon else (spec.desiredCount or 0)
        view = ServiceView(
            name=service, desired=desired, min_percent=low, max_percent=high,
            breaker=breaker is not None, rollback=bool(breaker and breaker.rollback),
            threshold=breaker.threshold(desired) if breaker else 0,
            reset_on_healthy=breaker.resets_on_healthy_task if breaker else True,
            daemon=spec.is_daemon, eligible_nodes=eligible, draining_nodes=frozenset(draining),
            healthy_after=SETTINGS.service_healthy_after, throttle_base=SETTINGS.service_throttle_base,
            throttle_cap=SETTINGS.service_throttle_cap)
        tasks = self._tasks(key)
        last = status.get("lastCompletedDeployment")
        events_before = status.get("events") or []
        result = scheduler.plan(view, deployments, tasks, moment,
                                deployment_from_record(last) if last else None, bool(status.get("steady")),
                                events_before[0]["message"] if events_before else None, new_deployment_id(),
                                status.get("throttle"))
        persisted = {d.id for d in deployments}
        if any(d.id not in persisted for d in result.deployments):  # a rollback: written before its tasks
            self._write(key, obj, spec, service, result.deployments, status, result.events, result,
                        moment, force=True)
            return 0.0
        self._concurrently([partial(self._stop, namespace, task, reason) for task, reason in result.stops])
        started = self._start(key, obj, spec, service, result.starts, {t.name for t in tasks}, result.deployments)
        messages = result.events + ([scheduler.started_event(service, started)] if started else [])
        again = self._write(key, obj, spec, service, result.deployments, status, messages, result, moment,
                            force=bool(messages))
        delays = [d for d in (result.again, again) if d is not None]
        return min(delays) if delays else None

    def _drain(self, key: Key, obj: dict[str, Any], service: str, status: dict[str, Any], moment: float
               ) -> float | None:
        """DeleteService: every task stops (DRAINING), then the service is INACTIVE: still
        describable for `inactive_service_retention`, then its object goes."""
        namespace, name = key
        tasks = [task_view(p) for p in self.caches.service_tasks(namespace, name).values()]
        deployments = [deployment_from_record(r) for r in status.get("deployments") or []]
        reason = (f"Scaling activity initiated by (deployment {deployments[0].id})" if deployments
                  else "Service deleted")
        for task in tasks:
            if task.kept:
                self._stop(namespace, task.name, reason)
        alive = [t for t in tasks if t.alive]
        new = dict(status)
        new.update({"status": "DRAINING" if alive else "INACTIVE", "desiredCount": 0,
                    "runningCount": sum(t.last_status == "RUNNING" for t in alive),
                    "pendingCount": sum(t.last_status != "RUNNING" for t in alive), "steady": False})
        for record in new.get("deployments") or []:
            record["desiredCount"] = 0
        if not alive:
            new.setdefault("inactiveAt", times.rfc3339(moment))
        set_condition(new, "Ready", False, "Inactive" if not alive else "Draining",
                      f"{service} was deleted" + (f"; {len(alive)} tasks still stopping" if alive else ""),
                      obj["metadata"].get("generation"))
        if new != status:
            self.statuses.write(key, obj, new)
        if alive:
            return None  # each task that stops requeues the service
        left = SETTINGS.inactive_service_retention - (moment - (times.epoch(new["inactiveAt"]) or moment))
        if left > 0:
            return left
        try:
            kube.send("DELETE", kube.custom_path("ecsservices", namespace, name), decode=False)
        except ApiException as err:
            if err.status != 404:
                raise
        return None

    def _tasks(self, key: Key) -> list[TaskView]:
        """The service's tasks: as the caches have them, and those created since that the watch
        has not shown yet (forgotten after RECENT seconds: by then the watch has long shown them)."""
        namespace, name = key
        tasks = [self._view(namespace, task, p) for task, p in self.caches.service_tasks(namespace, name).items()]
        seen = {t.name for t in tasks}
        moment = time.monotonic()
        with self._lock:
            for task_key in [k for k, (_, _, at) in self._unseen.items() if moment - at > RECENT]:
                del self._unseen[task_key]
            unseen = [view for (ns, task), (service, view, _) in self._unseen.items()
                      if ns == namespace and service == name and task not in seen]
        return tasks + unseen

    def _view(self, namespace: str, task: str, packed: str) -> TaskView:
        """task_view(packed), decoded again only when the task has changed (a step of a service of a
        thousand tasks would otherwise decode them all)."""
        with self._lock:
            known = self._views.get((namespace, task))
        if known is not None and known[0] is packed:
            return known[1]
        view = task_view(packed)
        with self._lock:
            self._views[(namespace, task)] = (packed, view)
        return view

    # ---------------------------------------------------------------- acting

    def _stop(self, namespace: str, task: str, reason: str) -> None:
        if (namespace, task) in self.stopping:
            return
        body = {"metadata": {"annotations": {STOP_CODE_ANNOTATION: "ServiceSchedulerInitiated"}},
                "spec": {"desiredStatus": "STOPPED", "stopReason": reason[:255]}}
        self.stopping.add((namespace, task))  # before the request: the watch may show the change first
        try:
            kube.send("PATCH", kube.custom_path("ecstasks", namespace, task), body, decode=False,
                      content_type="application/merge-patch+json")
        except ApiException as err:
            if err.status != 404:
                self.stopping.discard((namespace, task))
                raise
        except Exception:
            self.stopping.discard((namespace, task))
            raise

    def _start(self, key: Key, obj: dict[str, Any], spec: ServiceSpec, service: str,
               starts: list[tuple[str, str | None]], existing: set[str], deployments: list[Deployment]
               ) -> list[TaskView]:
        """Create one ECSTask per start, in the lowest free slot of its deployment; the tasks started."""
        namespace, name = key
        by_id = {d.id: d for d in deployments}
        taken = set(existing)
        bodies = []
        for deployment_id, node in starts:
            slot = 0
            while (task := task_name(name, deployment_id, slot)) in taken or (namespace, task) in self._unseen:
                slot += 1
            taken.add(task)
            bodies.append(self._task_body(obj, spec, service, task, by_id[deployment_id], node))

        def create(body: dict[str, Any]) -> TaskView | str | None:
            """The task started; None if it existed already; the refusal's message if refused."""
            task = body["metadata"]["name"]
            view = TaskView(task, "", body["spec"]["startedBy"], "", created_at=time.time(),
                            node=_pinned_node(body["spec"]))
            with self._lock:  # before the request: the watch may show it first
                self._unseen[(namespace, task)] = (name, view, time.monotonic())
            try:
                answer = kube.send("POST", kube.custom_path("ecstasks", namespace), body)
            except ApiException as err:
                if err.status == 409:
                    return None  # created before (a restart, or a cache behind): done
                with self._lock:
                    self._unseen.pop((namespace, task), None)
                if err.status in (400, 403, 422):
                    return f"{task}: {_api_message(err)}"
                raise
            except Exception:
                with self._lock:
                    self._unseen.pop((namespace, task), None)
                raise
            return replace(view, task_id=TaskRef(task, namespace, answer["metadata"]["uid"]).task_id)

        outcomes = self._concurrently([partial(create, body) for body in bodies])
        refusals = [o for o in outcomes if isinstance(o, str)]
        if refusals:  # admission refused them (a policy, a quota): the next reconcile tries again
            events.post(_ref(obj), "Warning", "TaskRefused", refusals[0])
        return [o for o in outcomes if isinstance(o, TaskView)]

    @staticmethod
    def _concurrently(calls: list[Callable[[], T]]) -> list[T]:
        """The calls' results, CONCURRENCY at a time: one at a time, a service scaled or rolled by a
        thousand tasks spent most of its time waiting on round trips (`make bench-services`)."""
        if len(calls) < 2:
            return [call() for call in calls]
        with ThreadPoolExecutor(min(CONCURRENCY, len(calls)), thread_name_prefix="ecsservice") as pool:
            return list(pool.map(lambda call: call(), calls))

    def _task_body(self, obj: dict[str, Any], spec: ServiceSpec, service: str, task: str, deployment: Deployment,
                   node: str | None) -> dict[str, Any]:
        """The ECSTask of one service task (run-task's shape, count 1), owned by the service."""
        namespace, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        constraints = [c.model_dump(exclude_none=True) for c in spec.placementConstraints or []]
        if node is not None:
            constraints.append({"type": "memberOf", "expression": f"{PIN}{node}"})
        task_spec: dict[str, Any] = {
            "cluster": spec.cluster,
            "taskDefinition": f"{deployment.revision['family']}:{deployment.revision['revision']}",
            "count": 1, "startedBy": deployment.id, "group": f"service:{service}",
        }
        if constraints:
            task_spec["placementConstraints"] = constraints
        if spec.placementStrategy:
            task_spec["placementStrategy"] = [s.model_dump(exclude_none=True) for s in spec.placementStrategy]
        elif node is None:
            task_spec["placementStrategy"] = [{"type": "spread", "field": "instanceId"}]  # ECS's default
        body = {"apiVersion": API, "kind": "ECSTask",
                "metadata": {"name": task, "namespace": namespace,
                             "labels": {SERVICE_LABEL: label_value(name),
                                        DEPLOYMENT_LABEL: deployment.id.rsplit("/", 1)[-1],
                                        EPHEMERAL_LABEL: "true"}},
                "spec": task_spec}
        kopf.adopt(body, owner=kopf.Body({"apiVersion": API, "kind": "ECSService", "metadata": obj["metadata"]}))
        return body

    # ---------------------------------------------------------------- status

    def _write(self, key: Key, obj: dict[str, Any], spec: ServiceSpec, service: str, deployments: list[Deployment],
               status: dict[str, Any], messages: list[str], result: scheduler.Plan | None, moment: float,
               force: bool) -> float | None:
        """Write the status if it changed; counts alone are written at most every
        `service_status_interval` (a burst of task changes costs one write per interval, not one each).
        Returns when to look again for a write held back."""
        # The operator's region and account, as its task records have them.
        region, account = SETTINGS.region, SETTINGS.account
        low, high = spec.effective_deployment_configuration()
        new = dict(status)
        stamp = times.rfc3339(moment)
        new.update({
            "serviceArn": arns.service_arn(spec.cluster, service, region, account),
            "serviceName": service,
            "clusterArn": arns.cluster_arn(spec.cluster, region, account),
            "status": "ACTIVE",
            "taskDefinition": deployments[0].task_definition if deployments else None,
            "deployments": [deployment_record(d) for d in deployments],
            "schedulingStrategy": spec.schedulingStrategy,
            "launchType": spec.launchType or "EC2",
            "deploymentController": {"type": "ECS"},
            "deploymentConfiguration": {"minimumHealthyPercent": low, "maximumPercent": high, **(
                {"deploymentCircuitBreaker": spec.deploymentConfiguration.deploymentCircuitBreaker.model_dump(
                    exclude_none=True)}
                if spec.deploymentConfiguration and spec.deploymentConfiguration.deploymentCircuitBreaker else {})},
            "createdAt": obj["metadata"].get("creationTimestamp"),
        })
        if result is not None:
            new.update({"desiredCount": sum(d.desired_count for d in deployments[:1]),
                        "runningCount": result.running_count, "pendingCount": result.pending_count,
                        "steady": result.steady})
            if result.throttle or "throttle" in new:
                new["throttle"] = result.throttle
            if result.last_completed is not None:
                new["lastCompletedDeployment"] = deployment_record(result.last_completed)
        else:
            new.setdefault("desiredCount", 0 if spec.is_daemon else spec.desiredCount or 0)
            new.setdefault("runningCount", 0)
            new.setdefault("pendingCount", 0)
        if messages:
            new["events"] = scheduler.record_events(
                list(status.get("events") or []),
                [{"id": str(uuid.uuid4()), "createdAt": stamp, "message": m} for m in messages])
        primary = deployments[0] if deployments else None
        if primary is not None and new.get("steady"):
            set_condition(new, "Ready", True, "SteadyState", f"{service} has reached a steady state",
                          obj["metadata"].get("generation"))
        elif primary is not None and primary.rollout_state == scheduler.FAILED:
            set_condition(new, "Ready", False, "DeploymentFailed", primary.rollout_state_reason,
                          obj["metadata"].get("generation"))
        else:
            set_condition(new, "Ready", False, "Deploying",
                          f"{new.get('runningCount', 0)}/{new.get('desiredCount', 0)} tasks RUNNING",
                          obj["metadata"].get("generation"))
        if new == status:
            return None
        with self._lock:
            since = moment - self._written_at.get(key, 0.0)
        counts_only = {k: v for k, v in new.items() if k not in ("runningCount", "pendingCount", "deployments",
                                                                 "conditions")} == \
            {k: v for k, v in status.items() if k not in ("runningCount", "pendingCount", "deployments", "conditions")}
        if not force and counts_only and [(d["id"], d["rolloutState"]) for d in new["deployments"]] == \
                [(d.get("id"), d.get("rolloutState")) for d in status.get("deployments") or []] \
                and since < SETTINGS.service_status_interval:
            return SETTINGS.service_status_interval - since
        if self.statuses.write(key, obj, new) is not None:
            with self._lock:
                self._written_at[key] = moment
        return None

    def _condition(self, key: Key, obj: dict[str, Any], reason: str, message: str, retry: bool = False
                   ) -> float | None:
        """A service that cannot be scheduled (yet): a condition and one Event; retried if it may resolve."""
        first = key not in self.backoff
        delay = self.backoff.next(key) if retry else None
        status = dict(obj.get("status") or {})
        set_condition(status, "Ready", False, reason, message, obj["metadata"].get("generation"))
        self.statuses.write(key, obj, status)
        if first or not retry:
            ready: dict[str, Any] = next((c for c in (obj.get("status") or {}).get("conditions", [])
                                          if c.get("type") == "Ready"), {})
            if ready.get("reason") != reason or ready.get("message") != message:
                events.post(_ref(obj), "Warning", reason, message + (" (retrying)" if retry else ""))
        return delay


def _ref(obj: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API, "kind": "ECSService", "metadata": obj["metadata"]}


def _api_message(err: ApiException) -> str:
    try:
        return str(json.loads(err.body).get("message", err.body))
    except (TypeError, ValueError):
        return str(err.body or err.reason)
