"""`ecs-operator dev-cluster up|down`: a background control plane that stops with nothing left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from kubernetes import client, config

pytestmark = pytest.mark.controlplane


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ecs_operator.cli", *args], capture_output=True, text=True,
                          timeout=180)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(")")[-1].split()[0] != "Z"


def test_up_leaves_a_ready_cluster_running_and_down_stops_every_process(tmp_path, kube):
    if not kube.local:
        pytest.skip("starts its own local control plane")
    up = cli("dev-cluster", "up", "--dir", str(tmp_path), "--nodes", "2", "--group", "web")
    assert up.returncode == 0, up.stderr
    assert f"export KUBECONFIG={tmp_path / 'kubeconfig'}" in up.stdout
    state = json.loads((tmp_path / "state.json").read_text())
    pids = list(state["pids"].values())
    try:
        assert set(state["pids"]) == {"etcd", "kube-apiserver", "kube-scheduler", "kube-controller-manager", "kwok"}
        assert all(alive(pid) for pid in pids)  # still running after `up` returned
        core = client.CoreV1Api(config.new_client_from_config(str(tmp_path / "kubeconfig")))
        nodes = core.list_node(label_selector="ecs.compat.dev/cluster=web").items
        assert sorted(n.metadata.name for n in nodes) == ["web-node-0", "web-node-1"]
        assert all(any(c.type == "Ready" and c.status == "True" for c in n.status.conditions) for n in nodes)
        for component in state["pids"]:
            assert (tmp_path / "logs" / f"{component}.log").exists()
    finally:
        down = cli("dev-cluster", "down", "--dir", str(tmp_path))
    assert down.returncode == 0 and "stopped" in down.stdout
    assert not any(alive(pid) for pid in pids)
    assert not (tmp_path / "state.json").exists()
    assert "no control plane running" in cli("dev-cluster", "down", "--dir", str(tmp_path)).stdout
