"""Leader election on the real control plane: two replicas, the leader killed (SIGKILL) during a
burst, twice; the short version of `make chaos-failover` (bench/failover.py, which this runs).
And the same with SIGTERM, as Kubernetes stops a Pod: the leader hands the Lease over."""

from __future__ import annotations

import importlib.util
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.controlplane

BENCH = Path(__file__).resolve().parents[2] / "bench" / "failover.py"


def _load_failover() -> Any:
    spec = importlib.util.spec_from_file_location("failover", BENCH)
    assert spec is not None and spec.loader is not None
    failover = importlib.util.module_from_spec(spec)
    sys.modules["failover"] = failover  # its dataclass looks its module up there
    spec.loader.exec_module(failover)
    return failover


def test_leader_killed_mid_burst_fails_over_without_duplicates_losses_or_overlap(kube, crds_installed, tmp_path):
    if not kube.local:
        pytest.skip("reads the local control plane's audit log (which replica wrote what, and when)")
    failover = _load_failover()
    audit_log = kube.kubeconfig.parent / "logs" / "audit.log"
    result = failover.run_failover(kube.kubeconfig, audit_log, kills=2, rate=3.0, seed=7, workdir=tmp_path)
    print(result.summary())
    assert result.kills == 2 and result.tasks > 0
    assert result.duplicates == 0, "a task got two Pods"
    assert result.lost == 0, "a task never became RUNNING"
    assert result.gap_free, "revision numbers reused or skipped"
    assert not result.overlaps, f"two replicas acted at once: {result.overlaps[:3]}"
    # kopf's handlers ran (on the leaders only: overlaps above counts their writes too)
    assert sum(result.kopf_writes.values()) > 0
    # a deadline, not a benchmark: the default Lease (15 s) plus a loaded 2-core machine's slack
    assert len(result.failover_s) == 2 and max(result.failover_s) < 45, result.failover_s
    for log in tmp_path.glob("replica-*.log"):
        assert "Traceback" not in log.read_text(), log


def test_a_leader_stopped_gracefully_hands_the_lease_over_at_once(kube, crds_installed, tmp_path):
    """SIGTERM (a rolling update, a drained node): the leader stops acting, releases the Lease, and
    the standby (or its own restarted process) leads within a retry period, not a lease duration."""
    if not kube.local:
        pytest.skip("reads the local control plane's audit log (which replica wrote what, and when)")
    failover = _load_failover()
    audit_log = kube.kubeconfig.parent / "logs" / "audit.log"
    result = failover.run_failover(kube.kubeconfig, audit_log, kills=2, rate=3.0, seed=11, workdir=tmp_path,
                                   stop=signal.SIGTERM)
    print(result.summary(), f"released={result.released} acquire_s={result.acquire_s}")
    assert result.kills == 2 and result.tasks > 0
    assert result.released == 2, "the stopped leader did not release the Lease"
    assert result.duplicates == 0 and result.lost == 0 and result.gap_free
    assert not result.overlaps, f"two replicas acted at once: {result.overlaps[:3]}"
    # from the signal: the stop itself, plus at most a retry period (2 s × 1.2) for the standby's
    # next look; a Lease left to expire would take 13–15 s
    assert len(result.failover_s) == 2 and max(result.failover_s) < 10, result.failover_s
    for log in tmp_path.glob("replica-*.log"):
        assert "Traceback" not in log.read_text(), log
