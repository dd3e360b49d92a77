"""Leader election on the real control plane: two replicas, the leader killed (SIGKILL) during a
burst, twice; the short version of `make chaos-failover` (bench/failover.py, which this runs)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.controlplane

BENCH = Path(__file__).resolve().parents[2] / "bench" / "failover.py"


def test_leader_killed_mid_burst_fails_over_without_duplicates_losses_or_overlap(kube, crds_installed, tmp_path):
    if not kube.local:
        pytest.skip("reads the local control plane's audit log (which replica wrote what, and when)")
    spec = importlib.util.spec_from_file_location("failover", BENCH)
    assert spec is not None and spec.loader is not None
    failover = importlib.util.module_from_spec(spec)
    sys.modules["failover"] = failover  # its dataclass looks its module up there
    spec.loader.exec_module(failover)
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
