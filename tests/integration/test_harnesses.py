"""`make bench`, `make chaos` and `make soak` end to end at a smoke size, each on a control plane of its own.

Their speed and memory figures are printed, not asserted (a loaded CI machine's timings prove
nothing); what is asserted is what must hold at any size: every task reaches RUNNING (a service's
rollout completes), the operator's writes per task, no duplicate or lost task across kills, no
operator errors.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.controlplane


def run(script: str, *args: str, timeout: float) -> str:
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}  # each starts its own control plane
    proc = subprocess.run([sys.executable, str(REPO / "bench" / script), *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=REPO)
    assert proc.returncode == 0, f"{script} exited {proc.returncode}:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    print(proc.stdout.splitlines()[-1])
    return proc.stdout


def test_the_benchmark_runs_every_scenario_and_reports_what_it_measured(tmp_path):
    out = tmp_path / "bench"
    stdout = run("bench.py", "--tasks", "20", "--nodes", "3", "--steady-rate", "5", "--steady-seconds", "4",
                 "--noise-pods", "30", "--idle", "1", "--no-plot", "--out", str(out), timeout=900)
    results = json.loads((out / "results.json").read_text())
    scenarios = results["scenarios"]
    assert set(scenarios) == {"a", "b", "op1", "op10", "steady", "noise"}
    for name, scenario in scenarios.items():
        assert scenario["tasks_running"] == scenario["tasks"] > 0, name
        assert scenario["throughput_tasks_per_s"] > 0, name
    for name in ("op1", "steady", "noise"):
        # The Pod and one status write per task; ECSCluster status writes are shared by all tasks.
        assert 2.0 <= scenarios[name]["operator"]["writes_per_task"] < 3.0, name
    assert scenarios["op10"]["operator"]["writes_per_task"] < 1.5
    assert re.search(r"^ratio_A=\S+ ratio_B=\S+$", stdout, re.MULTILINE)
    # Throughput, requests, CPU, where a task's time goes (from the operator's /metrics: every task is
    # reconciled at least once, to create its Pod), and the burst's arrivals against its service
    assert (out / "benchmarks.md").read_text().count("| op10 |") == 5
    assert scenarios["op1"]["arrivals_per_s"] > 0 and 0 <= scenarios["op1"]["backlog_at_last_create"] <= 20
    assert scenarios["op1"]["operator_work"]["reconciles_per_task"] >= 1.0
    assert scenarios["op1"]["pod_wait_s"]["p99"] > 0


def test_the_benchmark_runs_the_services_beside_their_baselines(tmp_path):
    """rs, svc, deploy, roll (not in the default list): every task RUNNING, the rollout completed with
    every old task stopped, the writes per service task reported, no operator error."""
    out = tmp_path / "bench-services"
    stdout = run("bench.py", "--tasks", "20", "--nodes", "3", "--scenarios", "rs,svc,deploy,roll", "--idle", "1",
                 "--healthy-after", "1", "--no-plot", "--out", str(out), timeout=600)
    scenarios = json.loads((out / "results.json").read_text())["scenarios"]
    assert list(scenarios) == ["rs", "svc", "deploy", "roll"]
    assert [scenarios[n]["tasks"] for n in scenarios] == [20, 20, 10, 10]
    for name, scenario in scenarios.items():
        assert scenario["complete"] and scenario["tasks_running"] == scenario["tasks"], name
        assert scenario["throughput_tasks_per_s"] > 0 and scenario["ratio_baseline"] > 0, name
    svc, roll = scenarios["svc"], scenarios["roll"]
    assert svc["service"]["runningCount"] == 20 and svc["service"]["steady"]
    assert roll["service"]["deployments"] == [
        {"taskDefinition": "bench:2", "status": "PRIMARY", "rolloutState": "COMPLETED", "runningCount": 10}]
    assert roll["old_tasks"] == roll["old_tasks_stopped"] == 10
    for name in ("svc", "roll"):
        scenario = scenarios[name]
        assert scenario["operator_exit"] is None and scenario["operator_errors"] == 0, \
            scenario["operator_error_examples"]
        kinds = scenario["operator_writes_by_kind_per_task"]
        assert kinds["create ecstasks"] >= 1.0 and kinds["create pods"] >= 1.0, kinds
        assert 0 < scenario["service_status_writes_per_task"] < 1.0, name  # batched, not one per task
    # The ECSTask, its Pod, its status; the service's status writes shared by its tasks.
    assert 3.0 <= svc["operator"]["writes_per_task"] < 4.0
    assert re.search(r"^svc_ratio_rs=\S+ roll_ratio_deploy=\S+ svc_operator_writes_per_task=\S+", stdout,
                     re.MULTILINE)
    assert (out / "benchmarks.md").read_text().count("| roll |") == 3


def test_chaos_kills_lose_and_duplicate_nothing():
    stdout = run("chaos.py", "--tasks", "40", "--kills", "3", timeout=600)
    last = stdout.splitlines()[-1]
    assert re.fullmatch(r"kills=3 duplicates=0 lost=0 resync_s=[0-9.]+", last), last


def test_the_soak_churns_tasks_and_reports_the_operators_memory():
    stdout = run("soak.py", "--minutes", "0.5", "--rate", "5", "--lifetime", "3", timeout=600)
    figures = dict(pair.split("=", 1) for pair in stdout.splitlines()[-1].split())
    assert int(figures["created"]) >= 100 and int(figures["stopped"]) > 0
    assert float(figures["rss_end_mib"]) > 0
    assert "errors=0" in stdout
