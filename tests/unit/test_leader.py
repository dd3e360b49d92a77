"""Leader election's own logic, without an apiserver: the settings, the watchdog that ends a leader
which cannot renew, and how much of the holder's renewTime a candidate credits. Acquiring,
renewing and taking over run against the real control plane (tests/integration/test_failover.py,
test_chart.py)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from ecs_operator.controller import leader
from ecs_operator.controller.leader import Elector, LeaderConfig


def test_defaults_are_controller_runtimes_and_overridable(monkeypatch):
    for name in ("ECS_LEASE_DURATION", "ECS_RENEW_DEADLINE", "ECS_RETRY_PERIOD", "ECS_LEADER_ELECTION_ID",
                 "ECS_LEADER_ELECTION_NAMESPACE", "POD_NAMESPACE", "POD_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(leader, "_SA_NAMESPACE_FILE", "/nonexistent")
    config = LeaderConfig()
    assert (config.lease_duration, config.renew_deadline, config.retry_period) == (15, 10, 2)
    assert (config.namespace, config.name) == ("default", "ecs-operator")
    monkeypatch.setenv("POD_NAMESPACE", "ecs-system")
    monkeypatch.setenv("POD_NAME", "ecs-operator-5d8f-abcde")
    monkeypatch.setenv("ECS_LEASE_DURATION", "6")
    monkeypatch.setenv("ECS_RENEW_DEADLINE", "4")
    monkeypatch.setenv("ECS_RETRY_PERIOD", "1")
    config = LeaderConfig()
    assert (config.namespace, config.lease_duration, config.renew_deadline, config.retry_period) == ("ecs-system",
                                                                                                       6, 4, 1)
    assert config.identity.startswith("ecs-operator-5d8f-abcde_")
    assert LeaderConfig().identity != config.identity  # a restart is a new candidate


@pytest.mark.parametrize("durations", [(10, 10, 2), (15, 10, 9), (15, 2, 2), (15, 10, 0)])
def test_inconsistent_timings_are_refused(durations):
    lease, renew, retry = durations
    with pytest.raises(ValueError, match="lease duration"):
        LeaderConfig(namespace="x", lease_duration=lease, renew_deadline=renew, retry_period=retry)


def test_a_leader_that_cannot_renew_within_the_deadline_stops():
    lost: list[str] = []
    called = threading.Event()

    def on_lost(reason: str) -> None:
        lost.append(reason)
        called.set()

    elector = Elector(LeaderConfig(namespace="x", lease_duration=1.5, renew_deadline=0.5, retry_period=0.2),
                      on_lost=on_lost)
    elector._renewed_at = time.monotonic()
    elector.leading.set()
    watchdog = threading.Thread(target=elector._watchdog, daemon=True)
    started = time.monotonic()
    watchdog.start()
    assert called.wait(5)
    assert time.monotonic() - started >= 0.5 - 0.05
    assert len(lost) == 1 and "renew deadline" in lost[0]
    assert not elector.leading.is_set()
    elector._stop.set()
    watchdog.join(2)


def test_a_candidate_credits_the_holders_renew_time_by_one_retry_period_at_most():
    elector = Elector(LeaderConfig(namespace="x"))

    def ago(seconds: float) -> str:
        return (datetime.now(UTC) - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    assert 0.9 < elector._credit(ago(1.0)) < 1.5
    assert elector._credit(ago(30)) == 2.0  # a clock ahead (or a stale record): never more than retry_period
    assert elector._credit(ago(-30)) == 0.0  # a clock behind: nothing
    assert elector._credit(None) == 0.0 and elector._credit("garbage") == 0.0
