"""Start-up time and idle memory of the local control plane (issue: control plane).

Run: .venv/bin/python bench/controlplane_figures.py [--runs 3]
Prints start-to-ready seconds per run (ready = apiserver /readyz, scheduler and controller-manager
/healthz, the default ServiceAccount, and 3 kwok nodes Ready) and each component's resident memory
after 20 s idle.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from kubernetes import client, config

from ecs_operator.devcluster import build
from ecs_operator.devcluster.controlplane import ControlPlane
from ecs_operator.devcluster.nodes import NodeGroup, create_node_group


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--idle", type=float, default=20.0)
    args = parser.parse_args()
    build.build()
    times = []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            plane = ControlPlane(Path(tmp))
            started = time.monotonic()
            plane.start()
            core = client.CoreV1Api(config.new_client_from_config(str(plane.kubeconfig)))
            create_node_group(core, NodeGroup(count=3))
            elapsed = time.monotonic() - started
            times.append(elapsed)
            print(f"run {run + 1}: ready in {elapsed:.2f} s")
            if run == args.runs - 1:
                time.sleep(args.idle)
                for component, pid in plane.pids.items():
                    print(f"  {component:<24} RSS {rss_mib(pid):7.1f} MiB (after {args.idle:.0f} s idle)")
            plane.stop()
    print(f"start-to-ready: median {statistics.median(times):.2f} s, max {max(times):.2f} s over {len(times)} runs")


if __name__ == "__main__":
    main()
