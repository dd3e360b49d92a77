"""The service scheduler's decisions (ecs_operator.ecs.scheduler), pure: bounds, order, completion,
circuit breaker, throttle, DAEMON and events, each checked step by step in a small simulation of
the tasks' lives (a started task is PROVISIONING, then RUNNING; a stopped one STOPPED a step later)."""

from __future__ import annotations

import dataclasses
import itertools
import math

import pytest

from ecs_operator.ecs.scheduler import (
    ACTIVE,
    COMPLETED,
    FAILED,
    IN_PROGRESS,
    PRIMARY,
    Deployment,
    Plan,
    ServiceView,
    TaskView,
    lower_bound,
    needs_deployment,
    new_deployment,
    plan,
    record_events,
    upper_bound,
)

ARN = "arn:aws:ecs:us-east-1:000000000000:task-definition/web:{}"


def deployment(n: int, revision: int, **fields: object) -> Deployment:
    return Deployment(f"ecs-svc/{n:019d}", PRIMARY, ARN.format(revision), {"family": "web", "revision": revision},
                      f"web:{revision}", None, 0.0, 0.0, **fields)  # type: ignore[arg-type]


class Sim:
    """Tasks and deployments of one service, advanced one scheduler step at a time."""

    def __init__(self, service: ServiceView, deployments: list[Deployment], fails: set[int] = frozenset(),
                 nodes: tuple[str, ...] = ("n1", "n2", "n3")) -> None:
        self.service, self.deployments = service, deployments
        self.tasks: list[TaskView] = []
        self.now = 1000.0
        self.counter = itertools.count()
        self.ids = itertools.count(900)
        self.fails = set(fails)  # revisions whose tasks stop before they run
        self.nodes = nodes
        self.last_completed: Deployment | None = None
        self.steady = False
        self.events: list[str] = []
        self.samples: list[tuple[int, int]] = []  # (healthy, alive) before each step
        self.throttle: dict[str, float] = {}
        self.forget_stopped = False

    def running(self, deployment: Deployment, count: int) -> None:
        """`count` healthy tasks of `deployment`, as if it had completed long ago."""
        for _ in range(count):
            n = next(self.counter)
            self.tasks.append(TaskView(f"t{n}", f"{n:032x}", deployment.id, "RUNNING", created_at=0.0,
                                       started_at=0.0, node=self.nodes[n % len(self.nodes)]))

    def revision_of(self, deployment_id: str) -> int:
        return next(int(d.revision["revision"]) for d in self.deployments if d.id == deployment_id)

    def step(self, seconds: float = 5.0) -> Plan:
        healthy = sum(1 for t in self.tasks if t.kept and t.last_status == "RUNNING" and t.started_at is not None
                      and self.now - t.started_at >= self.service.healthy_after)
        self.samples.append((healthy, sum(t.alive for t in self.tasks)))
        result = plan(self.service, self.deployments, self.tasks, self.now, self.last_completed, self.steady,
                      self.events[-1] if self.events else None, f"ecs-svc/{next(self.ids):019d}", self.throttle)
        self.deployments, self.last_completed, self.steady = result.deployments, result.last_completed, result.steady
        self.throttle = result.throttle
        if self.forget_stopped:  # stopped tasks deleted at once: only the scheduler's memory counts them
            self.tasks = [t for t in self.tasks if t.alive]
        self.events += result.events
        stopping = dict(result.stops)
        moved = []
        for task in self.tasks:  # the world moves on: stops land, starts run (or fail)
            if task.name in stopping:
                task = dataclasses.replace(task, desired_status="STOPPED", stopped_reason=stopping[task.name])
            elif task.desired_status == "STOPPED" and task.alive:
                task = dataclasses.replace(task, last_status="STOPPED", stopped_at=self.now)
            elif task.last_status == "PROVISIONING":
                if self.revision_of(task.deployment) in self.fails:
                    task = dataclasses.replace(task, last_status="STOPPED", stopped_at=self.now,
                                               stopped_reason="Essential container in task exited")
                else:
                    task = dataclasses.replace(task, last_status="RUNNING", started_at=self.now)
            moved.append(task)
        for deployment_id, node in result.starts:
            n = next(self.counter)
            moved.append(TaskView(f"t{n}", f"{n:032x}", deployment_id, "PROVISIONING", created_at=self.now,
                                  node=node or self.nodes[n % len(self.nodes)]))
        self.tasks = moved
        self.now += seconds
        return result

    def run(self, steps: int = 60) -> None:
        for _ in range(steps):
            self.step()

    def kept(self, deployment: Deployment | None = None) -> list[TaskView]:
        return [t for t in self.tasks if t.kept and (deployment is None or t.deployment == deployment.id)]


def replica(desired: int = 4, low: int = 100, high: int = 200, **fields: object) -> ServiceView:
    return ServiceView("web", desired, low, high, healthy_after=10.0, **fields)  # type: ignore[arg-type]


def rolled(sim: Sim, revision: int) -> Deployment:
    """A new deployment of `revision`, as the reconciler makes one when the spec changes."""
    sim.deployments = new_deployment(sim.deployments, f"ecs-svc/{revision:019d}", ARN.format(revision),
                                     {"family": "web", "revision": revision}, f"web:{revision}", None, False,
                                     sim.now)
    return sim.deployments[0]


@pytest.mark.parametrize(("desired", "low", "high", "healthy_at_least", "alive_at_most"), [
    (4, 50, 200, 2, 8), (4, 100, 200, 4, 8), (4, 0, 100, 0, 4), (3, 75, 125, 3, 3), (2, 75, 200, 2, 4),
])
def test_bounds_round_as_ecs_does(desired, low, high, healthy_at_least, alive_at_most):
    assert lower_bound(desired, low) == healthy_at_least and upper_bound(desired, high) == alive_at_most


@pytest.mark.parametrize(("low", "high"), [(50, 200), (100, 200), (0, 100), (100, 150), (75, 125)])
def test_a_rolling_update_stays_within_its_bounds_and_completes(low, high):
    service = replica(4, low, high)
    sim = Sim(service, [deployment(1, 1, rollout_state=COMPLETED)])
    sim.running(sim.deployments[0], 4)
    new = rolled(sim, 2)
    sim.run()
    for healthy, alive in sim.samples:
        assert healthy >= math.ceil(4 * low / 100) and alive <= math.floor(4 * high / 100), sim.samples
    assert [d.id for d in sim.deployments] == [new.id] and sim.deployments[0].rollout_state == COMPLETED
    assert len(sim.kept(new)) == 4 and all(t.deployment == new.id for t in sim.tasks if t.alive)
    assert sim.steady and sim.last_completed is not None and sim.last_completed.id == new.id
    assert sim.events[-2:] == [f"(service web) (deployment {new.id}) deployment completed.",
                               "(service web) has reached a steady state."]
    stopped = [t for t in sim.tasks if t.deployment != new.id]
    assert stopped and {t.stopped_reason for t in stopped} == {
        f"Scaling activity initiated by (deployment {new.id})"}


def test_min_100_max_200_starts_new_tasks_before_it_stops_old_ones():
    sim = Sim(replica(4, 100, 200), [deployment(1, 1, rollout_state=COMPLETED)])
    sim.running(sim.deployments[0], 4)
    new = rolled(sim, 2)
    first = sim.step()
    assert first.starts == [(new.id, None)] * 4 and first.stops == []


def test_min_0_max_100_stops_old_tasks_first():
    sim = Sim(replica(4, 0, 100), [deployment(1, 1, rollout_state=COMPLETED)])
    sim.running(sim.deployments[0], 4)
    rolled(sim, 2)
    first = sim.step()
    assert first.starts == [] and len(first.stops) == 4


def test_min_100_max_100_stalls_with_ecs_s_event_once():
    sim = Sim(replica(4, 100, 100), [deployment(1, 1, rollout_state=COMPLETED)])
    sim.running(sim.deployments[0], 4)
    new = rolled(sim, 2)
    sim.run(5)
    stall = ("(service web) was unable to stop or start tasks during a deployment because of the service "
             "deployment configuration. Update the minimumHealthyPercent or maximumPercent value and try again.")
    assert sim.events == [stall]
    assert sim.deployments[0].id == new.id and sim.deployments[0].rollout_state == IN_PROGRESS
    assert len(sim.kept()) == 4


def test_a_stopped_task_is_replaced_by_a_new_one():
    sim = Sim(replica(3), [deployment(1, 1, rollout_state=COMPLETED)])
    sim.running(sim.deployments[0], 3)
    sim.steady = True
    gone = sim.tasks[0]
    sim.tasks[0] = dataclasses.replace(gone, last_status="STOPPED", stopped_at=sim.now,
                                       stopped_reason="Essential container in task exited")
    result = sim.step()
    assert result.starts == [(sim.deployments[0].id, None)] and not sim.steady
    sim.run(5)
    assert len(sim.kept()) == 3 and gone.name not in {t.name for t in sim.kept()}
    assert sim.steady and sim.events[-1] == "(service web) has reached a steady state."
    assert sim.deployments[0].rollout_state == COMPLETED  # no new deployment for a replacement


def test_scaling_down_stops_the_extra_tasks_and_up_starts_more():
    sim = Sim(replica(4), [deployment(1, 1, rollout_state=COMPLETED)])
    sim.running(sim.deployments[0], 4)
    sim.service = replica(2)
    result = sim.step()
    assert len(result.stops) == 2 and result.starts == []
    assert result.events[0].startswith("(service web) has stopped 2 running tasks: (task ")
    sim.run(3)
    sim.service = replica(5)
    assert len(sim.step().starts) == 3


@pytest.mark.parametrize("forget_stopped", [False, True])
def test_the_circuit_breaker_fails_the_deployment_and_rolls_back_to_the_last_completed(forget_stopped):
    service = replica(4, 100, 200, breaker=True, rollback=True, threshold=3)
    sim = Sim(service, [deployment(1, 1, rollout_state=COMPLETED)], fails={2})
    sim.forget_stopped = forget_stopped
    sim.last_completed = sim.deployments[0]
    sim.running(sim.deployments[0], 4)
    bad = rolled(sim, 2)
    listed: set[tuple[str, str, str]] = set()
    for _ in range(30):
        sim.step()
        listed |= {(d.id, d.status, d.rollout_state) for d in sim.deployments}
    assert (bad.id, ACTIVE, FAILED) in listed  # shown while the rollback runs, as ECS does
    assert any(e == f"(service web) (deployment {bad.id}) deployment failed: tasks failed to start."
               for e in sim.events)
    assert "(service web) rolling back to deployment ecs-svc/0000000000000000001." in sim.events
    primary = sim.deployments[0]
    assert primary.revision["revision"] == 1 and primary.rollout_state == COMPLETED
    assert primary.reference == "web:2"  # made for the same spec: the spec asks for nothing new
    assert not needs_deployment(primary, "web:2", None)
    assert len(sim.deployments) == 1 and len(sim.kept()) == 4
    assert all(sim.revision_of(t.deployment) == 1 for t in sim.kept())


@pytest.mark.parametrize("forget_stopped", [False, True])
def test_without_rollback_a_failed_deployment_stays_and_old_tasks_keep_running(forget_stopped):
    service = replica(4, 100, 200, breaker=True, rollback=False, threshold=3)
    sim = Sim(service, [deployment(1, 1, rollout_state=COMPLETED)], fails={2})
    sim.forget_stopped = forget_stopped
    sim.running(sim.deployments[0], 4)
    bad = rolled(sim, 2)
    sim.run(30)
    assert sim.deployments[0].id == bad.id and sim.deployments[0].rollout_state == FAILED
    assert sim.deployments[0].rollout_state_reason == "ECS deployment circuit breaker: tasks failed to start."
    assert sim.deployments[0].failed_tasks >= 3
    assert [d.status for d in sim.deployments] == [PRIMARY, ACTIVE]
    assert len(sim.kept(sim.deployments[1])) == 4
    assert sim.step().starts == []  # a FAILED deployment launches nothing more


@pytest.mark.parametrize("forget_stopped", [False, True])
def test_failing_starts_are_throttled_with_growing_delays_and_ecs_s_event(forget_stopped):
    sim = Sim(replica(1), [deployment(1, 1)], fails={1})
    sim.forget_stopped = forget_stopped
    launches = []
    for _ in range(60):
        if sim.step(seconds=2).starts:
            launches.append(sim.now)
    gaps = [b - a for a, b in itertools.pairwise(launches)]
    assert gaps[:2] == [4.0, 4.0]  # a failed task is replaced at once, until THROTTLE_AFTER failures
    assert gaps[2] > gaps[1] and gaps[3] > gaps[2]  # then the delays grow
    assert "(service web) is unable to consistently start tasks successfully." in sim.events
    rolled(sim, 2)  # an update resets the throttle
    assert sim.step().starts


def test_daemon_runs_one_task_per_eligible_instance_and_follows_them():
    service = ServiceView("agent", 0, 0, 100, daemon=True, eligible_nodes=("n1", "n2", "n3"), healthy_after=10.0)
    sim = Sim(service, [deployment(1, 1)])
    sim.run(6)
    assert sorted(t.node for t in sim.kept()) == ["n1", "n2", "n3"]
    assert sim.deployments[0].rollout_state == COMPLETED and sim.deployments[0].desired_count == 3
    sim.service = dataclasses.replace(service, eligible_nodes=("n1", "n2", "n3", "n4"))
    sim.run(4)
    assert sorted(t.node for t in sim.kept()) == ["n1", "n2", "n3", "n4"]
    sim.service = dataclasses.replace(service, eligible_nodes=("n1", "n3", "n4"))  # n2 drains
    sim.run(4)
    assert sorted(t.node for t in sim.kept()) == ["n1", "n3", "n4"]
    assert any(t.node == "n2" and t.last_status == "STOPPED" for t in sim.tasks)


def test_a_daemon_deployment_stops_each_old_task_before_starting_its_replacement():
    service = ServiceView("agent", 0, 0, 100, daemon=True, eligible_nodes=("n1", "n2"), healthy_after=10.0)
    sim = Sim(service, [deployment(1, 1, rollout_state=COMPLETED)], nodes=("n1", "n2"))
    sim.running(sim.deployments[0], 2)
    new = rolled(sim, 2)
    sim.run(10)
    for _, alive in sim.samples:
        assert alive <= 2
    assert sorted(t.node for t in sim.kept(new)) == ["n1", "n2"]


def test_a_task_on_a_draining_instance_is_replaced_within_the_bounds():
    sim = Sim(replica(2, 100, 200), [deployment(1, 1, rollout_state=COMPLETED)], nodes=("n1", "n2"))
    sim.running(sim.deployments[0], 2)
    sim.service = dataclasses.replace(sim.service, draining_nodes=frozenset({"n1"}))
    sim.nodes = ("n2",)
    sim.run(8)
    for healthy, _ in sim.samples:
        assert healthy >= 2
    assert all(t.node == "n2" for t in sim.kept())


def test_events_are_kept_newest_first_at_most_100():
    events = [{"message": f"old {i}"} for i in range(99, -1, -1)]
    kept = record_events(events, [{"message": "a"}, {"message": "b"}])
    assert [e["message"] for e in kept[:3]] == ["b", "a", "old 99"] and len(kept) == 100


def test_the_same_task_definition_again_needs_no_deployment():
    primary = deployment(1, 3)
    assert not needs_deployment(primary, "web:3", None)
    assert needs_deployment(primary, "web:4", None) and needs_deployment(primary, "web:3", "again")
    assert needs_deployment(None, "web:3", None)


def test_a_daemon_task_not_placed_yet_counts_on_the_instance_it_is_pinned_to():
    service = ServiceView("agent", 0, 0, 100, daemon=True, eligible_nodes=("n0", "n1"), healthy_after=2)
    primary = deployment(1, 1)
    just_started = TaskView("agent-x-0", "0" * 32, primary.id, "", created_at=999.5, node="n0")
    result = plan(service, [primary], [just_started], 1000.0)
    assert result.stops == [] and result.starts == [(primary.id, "n1")]
