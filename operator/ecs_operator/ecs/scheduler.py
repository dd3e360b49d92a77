"""The ECS service scheduler's decisions, pure: what to start, stop and report for one service.

Given a service's numbers (`ServiceView`), its deployments as its status records them and its
tasks as their ECSTask records show them, `plan()` says which tasks to start (for which
deployment, on which instance for DAEMON), which to stop and why, how each deployment now
stands, and the service events ECS would emit, in ECS's words. The reconciler only gathers the
inputs, applies the plan and writes the status. Rules (../shared/ECS-SERVICES.md):

- Bounds: at least ceil(desired × minimumHealthyPercent / 100) tasks healthy, at most
  floor(desired × maximumPercent / 100) tasks that have not stopped yet. A task being stopped
  still counts against the maximum until it has STOPPED (the Developer Guide's reading: the
  bound then holds for everything a user can observe).
- Healthy: RUNNING, not being stopped, and HEALTHY where an essential container has a health
  check; otherwise RUNNING for `healthy_after` seconds (ECS: 40).
- A stopped task is replaced by a new one, never restarted; a new deployment when the task
  definition changes (decided by `needs_deployment`); old tasks stop as the bounds allow.
- Circuit breaker (ECS's current rule; the threshold, by default min(max(ceil(50% × desired), 3),
  200), is DeploymentCircuitBreaker.threshold's): stage 1
  counts deployment tasks that stopped without reaching RUNNING until one of them runs; stage 2
  counts tasks stopped for failed container health checks after the last task became healthy.
  Rollback goes to the last COMPLETED deployment, as a new PRIMARY deployment.
- Throttle: after THROTTLE_AFTER consecutive tasks went PENDING → STOPPED without running, the
  next launch waits a growing delay (capped; ECS: 15 min), reset by a new deployment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

PRIMARY, ACTIVE = "PRIMARY", "ACTIVE"
IN_PROGRESS, COMPLETED, FAILED = "IN_PROGRESS", "COMPLETED", "FAILED"
HEALTH_CHECK_FAILED = "Task failed container health checks"
THROTTLE_AFTER = 3  # consecutive failed starts before launches are spaced out
EVENTS_KEPT = 100


@dataclass(frozen=True)
class TaskView:
    """One service task, as its ECSTask record shows it (times in epoch seconds)."""

    name: str  # the ECSTask's name
    task_id: str  # ECS's 32-hex id
    deployment: str  # the deployment that started it (its startedBy)
    last_status: str  # "" until its first status, then PROVISIONING … STOPPED
    desired_status: str = "RUNNING"
    created_at: float = 0.0
    started_at: float | None = None  # when it reached RUNNING
    stopped_at: float | None = None
    health: str = "UNKNOWN"  # over its essential containers with a health check
    stopped_reason: str | None = None
    node: str | None = None  # the instance it runs on (DAEMON: before it is placed, the one it is pinned to)
    placement_failures: tuple[str, ...] = ()  # RESOURCE:CPU … while it cannot be placed

    @property
    def alive(self) -> bool:
        """Counts against maximumPercent: it has not stopped yet (it may be stopping)."""
        return self.last_status != "STOPPED"

    @property
    def kept(self) -> bool:
        """Alive and not being stopped."""
        return self.alive and self.desired_status == "RUNNING"

    @property
    def failed_to_start(self) -> bool:
        return self.last_status == "STOPPED" and self.started_at is None


@dataclass
class Deployment:
    """One deployment of a service: ECS's Deployment shape plus what the scheduler needs."""

    id: str  # ecs-svc/<19 digits>
    status: str  # PRIMARY | ACTIVE
    task_definition: str  # the revision's ARN
    revision: dict[str, Any]  # what it runs: {family, revision, configMap}
    reference: str  # spec.taskDefinition when it was made (a rollback keeps the failed one's)
    token: str | None  # spec.forceNewDeploymentToken when it was made
    created_at: float
    updated_at: float
    rollout_state: str = IN_PROGRESS
    rollout_state_reason: str = ""
    health_checked: bool = False  # an essential container has a health check
    desired_count: int = 0
    running_count: int = 0
    pending_count: int = 0
    failed_tasks: int = 0
    # The circuit breaker's memory (stopped tasks are deleted after a while; what they counted
    # stays): the failed tasks counted, by name, with when they stopped; when a task first ran.
    counted: dict[str, float] = field(default_factory=dict)
    first_run_at: float | None = None


@dataclass(frozen=True)
class ServiceView:
    name: str  # serviceName, for events
    desired: int  # REPLICA: desiredCount (0 while the service drains); DAEMON: ignored
    min_percent: int
    max_percent: int
    breaker: bool = False
    rollback: bool = False
    threshold: int = 3  # the circuit breaker's (DeploymentCircuitBreaker.threshold of the desired count)
    reset_on_healthy: bool = True  # the breaker's count restarts when a task becomes healthy
    daemon: bool = False
    eligible_nodes: tuple[str, ...] = ()  # DAEMON: ACTIVE instances meeting the constraints
    draining_nodes: frozenset[str] = frozenset()
    healthy_after: float = 40.0
    throttle_base: float = 10.0
    throttle_cap: float = 900.0


@dataclass
class Plan:
    starts: list[tuple[str, str | None]] = field(default_factory=list)  # (deployment id, node or None)
    stops: list[tuple[str, str]] = field(default_factory=list)  # (task name, stoppedReason)
    deployments: list[Deployment] = field(default_factory=list)  # PRIMARY first
    events: list[str] = field(default_factory=list)  # oldest first
    last_completed: Deployment | None = None
    steady: bool = False
    again: float | None = None  # seconds until something changes by time alone
    running_count: int = 0
    pending_count: int = 0
    throttle: dict[str, float] = field(default_factory=dict)  # consecutive failed starts: name → stopped at


def lower_bound(desired: int, min_percent: int) -> int:
    return math.ceil(desired * min_percent / 100)


def upper_bound(desired: int, max_percent: int) -> int:
    return math.floor(desired * max_percent / 100)


def is_healthy(task: TaskView, health_checked: bool, now: float, healthy_after: float) -> bool:
    if not task.kept or task.last_status != "RUNNING":
        return False
    if health_checked:
        return task.health == "HEALTHY"
    return task.started_at is not None and now - task.started_at >= healthy_after


def needs_deployment(primary: Deployment | None, reference: str, token: str | None) -> bool:
    """Has the spec asked for something the PRIMARY deployment was not made for? (The caller then
    resolves `reference`: the same revision again only updates the PRIMARY's reference, as ECS
    starts no deployment when UpdateService names the service's current task definition.)"""
    return primary is None or primary.reference != reference or primary.token != token


def new_deployment(deployments: list[Deployment], new_id: str, task_definition: str, revision: dict[str, Any],
                   reference: str, token: str | None, health_checked: bool, now: float,
                   reason: str | None = None) -> list[Deployment]:
    """A new PRIMARY deployment; the PRIMARY before it goes on draining as ACTIVE."""
    older = [replace(d, status=ACTIVE, updated_at=now) if d.status == PRIMARY else d for d in deployments]
    primary = Deployment(new_id, PRIMARY, task_definition, revision, reference, token, now, now,
                         rollout_state_reason=reason or f"ECS deployment {new_id} in progress.",
                         health_checked=health_checked)
    return [primary, *older]


def _prefix(service: str) -> str:
    return f"(service {service})"


def _tasks_phrase(tasks: list[TaskView]) -> str:
    return " ".join(f"(task {t.task_id})" for t in tasks)


def _placement_event(service: str, reasons: set[str]) -> str:
    """ECS's wording for a task that cannot be placed (the closest instance's shortfall)."""
    why = {
        "RESOURCE:CPU": "has insufficient CPU units available",
        "RESOURCE:MEMORY": "has insufficient memory available",
        "RESOURCE:PORTS": "is already using a port required by your task",
        "RESOURCE:PORTS_UDP": "is already using a port required by your task",
        "RESOURCE:GPU": "has insufficient GPU units available",
    }
    if reasons & {"MISSING", "NO_INSTANCES"}:
        return (f"{_prefix(service)} was unable to place a task because no container instance met all of its "
                "requirements. Reason: No Container Instances were found in your cluster.")
    found = sorted(why[r] for r in reasons if r in why)
    detail = found[0] if found else "does not meet its placement constraints"
    return (f"{_prefix(service)} was unable to place a task because no container instance met all of its "
            f"requirements. The closest matching container instance {detail}. For more information, see the "
            "Troubleshooting section of the Amazon ECS Developer Guide.")


def _throttle(service: ServiceView, tasks: list[TaskView], since: float, memory: dict[str, float], now: float
              ) -> tuple[float | None, dict[str, float]]:
    """(seconds until the next launch is allowed, or None; the consecutive failed starts since the
    last task that ran, remembered by name because stopped tasks are deleted after a while)."""
    failures = {name: at for name, at in memory.items() if at >= since}
    for task in tasks:
        if task.created_at >= since and task.failed_to_start:
            failures[task.name] = task.stopped_at or now
    ran = max((t.started_at for t in tasks if t.started_at is not None), default=None)
    if ran is not None:
        failures = {name: at for name, at in failures.items() if at > ran}
    if len(failures) < THROTTLE_AFTER:
        return None, failures
    delay = min(service.throttle_cap, service.throttle_base * 2 ** (len(failures) - THROTTLE_AFTER))
    wait = max(failures.values()) + delay - now
    return (wait if wait > 0 else None), failures


def _count_failures(primary: Deployment, tasks: list[TaskView], service: ServiceView, now: float) -> None:
    """The circuit breaker's count for the PRIMARY deployment (its two stages), kept in it."""
    mine = [t for t in tasks if t.deployment == primary.id]
    runs = [t.started_at for t in mine if t.started_at is not None]
    if runs and (primary.first_run_at is None or min(runs) < primary.first_run_at):
        primary.first_run_at = min(runs)
    first_run = primary.first_run_at
    for task in mine:
        stopped = task.stopped_at or now
        stage1 = task.failed_to_start and (first_run is None or stopped <= first_run)
        stage2 = task.last_status == "STOPPED" and task.stopped_reason == HEALTH_CHECK_FAILED
        if stage1 or stage2:
            primary.counted[task.name] = stopped
    if service.reset_on_healthy:
        healthy_since = max((t.started_at or 0.0 for t in mine
                             if is_healthy(t, primary.health_checked, now, service.healthy_after)), default=None)
        if healthy_since is not None:
            primary.counted = {name: at for name, at in primary.counted.items() if at > healthy_since}
    primary.failed_tasks = len(primary.counted)


def _stop_order(tasks: list[TaskView], health_checked: dict[str, bool], now: float, healthy_after: float
                ) -> list[TaskView]:
    """Which tasks go first: not yet healthy before healthy, then from the busiest instance, newest first."""
    per_node: dict[str | None, int] = {}
    for task in tasks:
        per_node[task.node] = per_node.get(task.node, 0) + 1
    return sorted(tasks, key=lambda t: (is_healthy(t, health_checked.get(t.deployment, False), now, healthy_after),
                                        -per_node[t.node], -t.created_at, t.name))


def plan(service: ServiceView, deployments: list[Deployment], tasks: list[TaskView], now: float,
         last_completed: Deployment | None = None, was_steady: bool = False, latest_event: str | None = None,
         rollback_id: str | None = None, throttle: dict[str, float] | None = None) -> Plan:
    """One level-based step of the service scheduler. `deployments`: PRIMARY first (the caller has
    made a new one if the spec asked for it); `rollback_id`: the id a rollback deployment would
    get; `latest_event`: the newest event already recorded (a repeated message is not emitted
    twice in a row); `throttle`: Plan.throttle of the step before."""
    out = Plan(last_completed=last_completed)
    throttle = dict(throttle or {})
    deployments = [replace(d, counted=dict(d.counted)) for d in deployments]
    if not deployments:
        return out
    primary = deployments[0]
    checked = {d.id: d.health_checked for d in deployments}
    prefix = _prefix(service.name)

    def healthy(task: TaskView) -> bool:
        return is_healthy(task, checked.get(task.deployment, False), now, service.healthy_after)

    def event(message: str) -> None:
        if message != (out.events[-1] if out.events else latest_event):
            out.events.append(message)

    def when(seconds: float) -> None:
        out.again = seconds if out.again is None else min(out.again, seconds)

    alive = [t for t in tasks if t.alive]
    kept = [t for t in tasks if t.kept]
    # Everything that is not a PRIMARY task where it belongs (tasks of older deployments, of a
    # deployment no longer listed, on a DRAINING or ineligible instance) is replaced.
    placeable = (lambda t: t.node in service.eligible_nodes) if service.daemon else (
        lambda t: t.node not in service.draining_nodes)
    desired = len(service.eligible_nodes) if service.daemon else service.desired
    wanted = [t for t in kept if t.deployment == primary.id and placeable(t)]
    others = [t for t in kept if t not in wanted]
    lower = lower_bound(desired, service.min_percent)
    upper = upper_bound(desired, service.max_percent)

    # ------------------------------------------------------------ circuit breaker
    if primary.rollout_state == IN_PROGRESS:
        _count_failures(primary, tasks, service, now)
        if service.breaker and primary.failed_tasks >= service.threshold:
            primary.rollout_state = FAILED
            primary.rollout_state_reason = "ECS deployment circuit breaker: tasks failed to start."
            primary.updated_at = now
            event(f"{prefix} (deployment {primary.id}) deployment failed: tasks failed to start.")
            if service.rollback and last_completed is not None and rollback_id is not None:
                event(f"{prefix} rolling back to deployment {last_completed.id}.")
                deployments = new_deployment(
                    deployments, rollback_id, last_completed.task_definition, last_completed.revision,
                    primary.reference, primary.token, last_completed.health_checked, now,
                    reason=f"ECS deployment circuit breaker: rolling back to deploymentId {last_completed.id}.")
                out_plan = plan(service, deployments, tasks, now, last_completed, was_steady,
                                out.events[-1] if out.events else latest_event, None, throttle)
                out_plan.events = out.events + out_plan.events
                return out_plan

    # ------------------------------------------------------------ stops
    frozen = primary.rollout_state == FAILED  # no rollback: nothing new starts, old tasks stay
    healthy_left = sum(healthy(t) for t in kept)
    stops: list[tuple[TaskView, str]] = []

    def stop(task: TaskView, reason: str) -> bool:
        nonlocal healthy_left
        if healthy(task):
            if healthy_left - 1 < lower:
                return False
            healthy_left -= 1
        stops.append((task, reason))
        return True

    scaling = f"Scaling activity initiated by (deployment {primary.id})"
    for task in wanted:  # a failed health check: replaced, never kept
        if task.last_status == "RUNNING" and checked.get(task.deployment) and task.health == "UNHEALTHY":
            stops.append((task, HEALTH_CHECK_FAILED))
    wanted = [t for t in wanted if t not in {s for s, _ in stops}]
    if not frozen:
        for task in _stop_order(others, checked, now, service.healthy_after):
            stop(task, scaling)
    if service.daemon:
        by_node: dict[str | None, list[TaskView]] = {}
        for task in wanted:
            by_node.setdefault(task.node, []).append(task)
        extra = [t for group in by_node.values() for t in sorted(group, key=lambda t: (t.created_at, t.name))[1:]]
    else:
        extra = _stop_order(wanted, checked, now, service.healthy_after)[:max(0, len(wanted) - desired)]
    for task in extra:
        if stop(task, scaling):
            wanted.remove(task)

    # ------------------------------------------------------------ starts
    throttled, out.throttle = _throttle(service, tasks, primary.created_at, throttle, now)
    if frozen:
        throttled = None
    if throttled is not None:
        when(throttled)
    room = upper - len(alive)
    starts: list[tuple[str, str | None]] = []
    if not frozen and throttled is None:
        if service.daemon:
            taken = {t.node for t in alive}
            for node in service.eligible_nodes:
                if node not in taken and len(starts) < room:
                    starts.append((primary.id, node))
        else:
            starts = [(primary.id, None)] * max(0, min(desired - len(wanted), room))
    elif throttled is not None and desired > len(wanted):
        event(f"{prefix} is unable to consistently start tasks successfully.")
    out.starts = starts
    out.stops = [(t.name, reason) for t, reason in stops]
    if stops:
        running = [t for t, _ in stops if t.last_status == "RUNNING"]
        pending = [t for t, _ in stops if t.last_status != "RUNNING"]
        if running:
            event(f"{prefix} has stopped {len(running)} running tasks: {_tasks_phrase(running)}.")
        if pending:
            event(f"{prefix} stopped {len(pending)} pending tasks.")

    # ------------------------------------------------------------ placement trouble
    reasons = {r for t in kept for r in t.placement_failures}
    if reasons:
        event(_placement_event(service.name, reasons))

    # ------------------------------------------------------------ time-driven changes
    for task in kept:
        if task.last_status == "RUNNING" and task.started_at is not None and not checked.get(task.deployment):
            left = task.started_at + service.healthy_after - now
            if left > 0:
                when(left)

    # ------------------------------------------------------------ deployments and counts
    stopping = {t.name for t, _ in stops}
    for deployment in deployments:
        mine = [t for t in alive if t.deployment == deployment.id]
        deployment.desired_count = desired if deployment is primary else 0
        deployment.running_count = sum(t.last_status == "RUNNING" for t in mine)
        deployment.pending_count = sum(t.last_status not in ("RUNNING", "STOPPED") and t.desired_status == "RUNNING"
                                       for t in mine)
    out.running_count = sum(t.last_status == "RUNNING" for t in alive)
    out.pending_count = sum(t.last_status not in ("RUNNING", "STOPPED") and t.desired_status == "RUNNING"
                            for t in alive)
    draining = {d.id for d in deployments[1:] if any(t.deployment == d.id for t in alive)}
    settled = (not starts and not stopping and not draining and len(alive) == desired
               and len(wanted) == desired and all(healthy(t) for t in wanted))
    if primary.rollout_state == IN_PROGRESS and settled:
        primary.rollout_state = COMPLETED
        primary.rollout_state_reason = f"ECS deployment {primary.id} completed."
        primary.updated_at = now
        out.last_completed = replace(primary)
        event(f"{prefix} (deployment {primary.id}) deployment completed.")
    # Older deployments stay listed while their tasks drain; a FAILED one also while the rollback
    # from it runs (ECS shows it ACTIVE and FAILED until the rollback completes).
    deployments = [primary, *(d for d in deployments[1:] if d.id in draining
                              or (d.rollout_state == FAILED and primary.rollout_state == IN_PROGRESS))]
    out.steady = settled and primary.rollout_state == COMPLETED
    if out.steady and not was_steady:
        event(f"{prefix} has reached a steady state.")
    in_transition = any(t.last_status != "RUNNING" or t.desired_status != "RUNNING"
                        or (checked.get(t.deployment) and t.health == "UNKNOWN") for t in alive)
    if (primary.rollout_state == IN_PROGRESS and not starts and not stops and throttled is None
            and not in_transition and out.again is None and not settled):
        event(f"{prefix} was unable to stop or start tasks during a deployment because of the service "
              "deployment configuration. Update the minimumHealthyPercent or maximumPercent value and try again.")
    out.deployments = deployments
    return out


def started_event(service: str, tasks: list[TaskView]) -> str:
    """The event for tasks the scheduler has just started (their ids are known once created)."""
    return f"{_prefix(service)} has started {len(tasks)} tasks: {_tasks_phrase(tasks)}."


def record_events(events: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """ECS's `events`: newest first, at most 100. `new` is oldest first."""
    return (list(reversed(new)) + events)[:EVENTS_KEPT]
