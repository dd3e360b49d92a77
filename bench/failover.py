"""Failover: two operator replicas with leader election; kill -9 the leader during a burst.

    make chaos-failover                          # 10 kills (KILLS=N, RATE=tasks/s)
    .venv/bin/python bench/failover.py --kills K [--rate R] [--seed S] [--stop kill|term]

On a local control plane (its audit log is the evidence), two replicas of `ecs-operator run
--leader-elect` run as the chart runs them, each with its own ServiceAccount token (replica-a and
replica-b in ecs-system, so the apiserver's audit log tells their requests apart). ECSTasks are
created at RATE per second throughout, and the task definition gets a new revision every few
seconds (kopf's handler). K times: once the Lease's holder has acted for a moment, it is killed
with SIGKILL and started again at once (as the Deployment would restart the container: a new
candidate). With `--stop term` it is stopped as Kubernetes stops a Pod (a rolling update, a
drained node): SIGTERM, and started again once it has exited; it releases the Lease once nothing
of it acts any more, and the standby takes over without waiting for the Lease to expire.
Afterwards:
- duplicates / lost: exactly one Pod per task, and every task RUNNING;
- revision numbers unique and gap-free (kopf's registration handler under kills);
- failover_s: for each kill, the time to the new leader's first ECSTask status write (the other
  replica's, or the killed one's restarted process: whichever candidate wins the Lease), from the
  audit log's requestReceivedTimestamp (the same clock as the kill's); acquire_s: to its Lease write;
- overlaps: in the audit log, every write (create, update, patch, delete) by either replica other
  than the Lease's, in order: where the writer changes from X to Y, X must have been killed in
  between (stopped with SIGTERM: X's release of the Lease must come between). 0 means no two
  replicas ever acted at once, kopf's handlers (their ConfigMaps, the task definitions' and
  clusters' status, their patches) included; their writes per replica are printed as kopf_writes.
The last line reads `kills=K duplicates=D lost=L overlaps=O failover_s=[…] median=M max=X`.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config

from ecs_operator.devcluster import build
from ecs_operator.devcluster.controlplane import AUDITED_NAMESPACE, running
from ecs_operator.devcluster.demo import install_crds
from ecs_operator.devcluster.nodes import NodeGroup, create_node_group
from ecs_operator.ecs.labels import API_GROUP, API_VERSION, TASK_LABEL

REPLICAS = ("replica-a", "replica-b")
WRITES = {"create", "update", "patch", "delete"}
KOPF_RESOURCES = {"configmaps", "ecstaskdefinitions", "ecstaskdefinitions/status", "ecsclusters",
                  "ecsclusters/status"}


@dataclass
class Result:
    kills: int = 0
    tasks: int = 0
    duplicates: int = 0
    lost: int = 0
    gap_free: bool = True
    overlaps: list[str] = field(default_factory=list)
    failover_s: list[float] = field(default_factory=list)
    acquire_s: list[float] = field(default_factory=list)
    kopf_writes: dict[str, int] = field(default_factory=dict)
    restarted_won: int = 0  # kills after which the killed replica's restarted process won the Lease
    released: int = 0  # SIGTERM stops after which the stopped leader's release of the Lease is in the audit log
    stop: signal.Signals = signal.SIGKILL  # how the leader was stopped (SIGTERM: it must release the Lease)
    log_dir: Path = Path()

    @property
    def ok(self) -> bool:
        return (self.duplicates == 0 and self.lost == 0 and self.gap_free and not self.overlaps
                and len(self.failover_s) == self.kills and (self.stop == signal.SIGKILL or self.released == self.kills))

    def summary(self) -> str:
        figures = [round(s, 1) for s in self.failover_s]
        median = statistics.median(self.failover_s) if self.failover_s else float("nan")
        worst = max(self.failover_s) if self.failover_s else float("nan")
        return (f"kills={self.kills} duplicates={self.duplicates} lost={self.lost} overlaps={len(self.overlaps)} "
                f"failover_s={figures} median={median:.1f} max={worst:.1f}")


def _when(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def token_kubeconfig(admin_kubeconfig: Path, core: client.CoreV1Api, service_account: str, path: Path) -> Path:
    admin = yaml.safe_load(admin_kubeconfig.read_text())
    token = core.create_namespaced_service_account_token(
        service_account, AUDITED_NAMESPACE, {"spec": {"expirationSeconds": 7200}}).status.token
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "sa",
        "clusters": [{"name": "c", "cluster": admin["clusters"][0]["cluster"]}],
        "users": [{"name": "sa", "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "c", "user": "sa"}}],
    }))
    return path


def run_failover(kubeconfig: Path, audit_log: Path, kills: int, rate: float, seed: int, workdir: Path,
                 make_nodes: bool = True, say: Any = print, stop: signal.Signals = signal.SIGKILL) -> Result:
    rng = random.Random(seed)
    api = config.new_client_from_config(str(kubeconfig))
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    rbac = client.RbacAuthorizationV1Api(api)
    install_crds(api)
    run_id = uuid.uuid4().hex[:6]
    namespace, cluster, lease = f"failover-{run_id}", f"fo{run_id}", f"ecs-failover-{run_id}"
    for name in (namespace, AUDITED_NAMESPACE):
        with contextlib.suppress(client.exceptions.ApiException):
            core.create_namespace({"metadata": {"name": name}})
    users, configs = {}, {}
    for replica in REPLICAS:
        account = f"{replica}-{run_id}"
        core.create_namespaced_service_account(AUDITED_NAMESPACE, {"metadata": {"name": account}})
        # The chart's RBAC is proven by tests/integration/test_chart.py; here the two identities matter.
        rbac.create_cluster_role_binding({
            "metadata": {"name": account},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": AUDITED_NAMESPACE}]})
        users[replica] = f"system:serviceaccount:{AUDITED_NAMESPACE}:{account}"
        configs[replica] = token_kubeconfig(kubeconfig, core, account, workdir / f"{replica}.kubeconfig")
    expected = int(rate * kills * 25) + 50
    nodes = create_node_group(core, NodeGroup(cluster=cluster, count=max(2, expected // 100 + 1), cpu="64",
                                              memory="256Gi", pods="110")) if make_nodes else []

    def create(plural: str, kind: str, name: str, spec: dict[str, Any]) -> None:
        custom.create_namespaced_custom_object(API_GROUP, API_VERSION, namespace, plural, {
            "apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": kind, "metadata": {"name": name}, "spec": spec})

    logs = {r: (workdir / f"{r}.log").open("ab") for r in REPLICAS}

    def start(replica: str) -> subprocess.Popen[bytes]:
        env = dict(os.environ, KUBECONFIG=str(configs[replica]), POD_NAME=replica, POD_NAMESPACE=AUDITED_NAMESPACE,
                   ECS_LEADER_ELECTION_ID=lease)
        return subprocess.Popen([sys.executable, "-m", "ecs_operator.cli", "run", "--namespace", namespace,
                                 "--leader-elect", "--log-level", "warning"],
                                env=env, stdout=logs[replica], stderr=subprocess.STDOUT)

    def holder() -> str | None:
        try:
            spec = client.CoordinationV1Api(api).read_namespaced_lease(lease, AUDITED_NAMESPACE).spec
        except client.exceptions.ApiException:
            return None
        return str(spec.holder_identity or "") or None

    procs = {REPLICAS[0]: start(REPLICAS[0])}
    time.sleep(1.0)
    procs[REPLICAS[1]] = start(REPLICAS[1])
    create("ecsclusters", "ECSCluster", cluster, {})
    definition: dict[str, Any] = {"family": "failover", "containerDefinitions": [
        {"name": "app", "image": "app:0", "cpu": 16, "memory": 16, "portMappings": [{"containerPort": 80}]}]}
    create("ecstaskdefinitions", "ECSTaskDefinition", "failover", definition)
    done = threading.Event()
    created: list[str] = []

    def creator() -> None:
        i = 0
        while not done.is_set():
            name = f"f{i}"
            with contextlib.suppress(client.exceptions.ApiException):
                create("ecstasks", "ECSTask", name, {"cluster": cluster, "taskDefinition": "failover:1"})
                created.append(name)
            i += 1
            done.wait(1.0 / rate)

    def new_revisions() -> None:
        image = 0
        while not done.wait(rng.uniform(1.0, 4.0)):
            image += 1
            definition["containerDefinitions"][0]["image"] = f"app:{image}"
            with contextlib.suppress(client.exceptions.ApiException):
                custom.patch_namespaced_custom_object(API_GROUP, API_VERSION, namespace, "ecstaskdefinitions",
                                                      "failover", {"spec": definition})

    result = Result(log_dir=workdir, stop=stop)
    kill_log: list[Stop] = []
    threads = [threading.Thread(target=creator, daemon=True), threading.Thread(target=new_revisions, daemon=True)]
    try:
        deadline = time.monotonic() + 90
        while holder() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        for t in threads:
            t.start()
        for _ in range(kills):
            current = holder()
            leader = next((r for r in REPLICAS if current and current.startswith(f"{r}_")), None)
            if leader is None:
                raise RuntimeError(f"no replica holds the Lease (holder {current!r}); logs in {workdir}")
            time.sleep(rng.uniform(2.0, 5.0))  # it acts for a moment …
            signalled = time.time()
            procs[leader].send_signal(stop)  # … and dies, or is stopped
            try:
                procs[leader].wait(timeout=60)
            except subprocess.TimeoutExpired:  # a stop that hangs: killed, as the kubelet does after the grace period
                procs[leader].kill()
                procs[leader].wait()
            kill_log.append(Stop(signalled, time.time(), leader, stop))
            procs[leader] = start(leader)  # the Deployment restarts the container: a new candidate
            result.kills += 1
            deadline = time.monotonic() + 60
            while (holder() or current) == current and time.monotonic() < deadline:
                time.sleep(0.2)
            now = holder()
            result.restarted_won += bool(now and now.startswith(f"{leader}_"))
            say(f"kill {result.kills}: {leader} {'killed' if stop == signal.SIGKILL else 'stopped'}; "
                f"the Lease is now {now}")
        time.sleep(3.0)  # the last leader acts a while before the burst ends
        done.set()
        for t in threads:
            t.join()
        result.tasks = len(created)
        say(f"created {result.tasks} tasks during {result.kills} kills; waiting for every one to be RUNNING")
        wait_until = time.monotonic() + 120 + result.tasks * 0.05
        running_tasks: set[str] = set()
        while time.monotonic() < wait_until:
            items = custom.list_namespaced_custom_object(API_GROUP, API_VERSION, namespace, "ecstasks")["items"]
            running_tasks = {i["metadata"]["name"] for i in items
                             if [r.get("lastStatus") for r in (i.get("status") or {}).get("tasks", [])] == ["RUNNING"]}
            if running_tasks >= set(created):
                break
            time.sleep(0.5)
        pods = core.list_namespaced_pod(namespace, label_selector=TASK_LABEL).items
        per_task = Counter(p.metadata.labels[TASK_LABEL] for p in pods)
        result.duplicates = sum(n - 1 for n in per_task.values() if n > 1)
        result.lost = len(set(created) - running_tasks)
        td = custom.get_namespaced_custom_object(API_GROUP, API_VERSION, namespace, "ecstaskdefinitions", "failover")
        numbers = [r["revision"] for r in (td.get("status") or {}).get("revisions", [])]
        result.gap_free = numbers == list(range(1, len(numbers) + 1))
        say(f"revisions={len(numbers)} gap_free={result.gap_free}")
    finally:
        done.set()
        for proc in procs.values():
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        for log in logs.values():
            log.close()
        # what this run made goes (a shared control plane: the test session's)
        with contextlib.suppress(client.exceptions.ApiException):
            core.delete_namespace(namespace)
        for replica in REPLICAS:
            with contextlib.suppress(client.exceptions.ApiException):
                rbac.delete_cluster_role_binding(f"{replica}-{run_id}")
        for node in nodes:
            with contextlib.suppress(client.exceptions.ApiException):
                core.delete_node(node)
    analyse(audit_log, users, namespace, kill_log, result)
    return result


@dataclass
class Stop:
    signalled: float  # wall time
    exited: float
    victim: str
    how: signal.Signals
    # from the audit log (analysed()): the victim's writes are received no later than own_until, the
    # next leader's no earlier than next_from
    own_until: float = 0.0
    next_from: float = 0.0

    def analysed(self, lease_writes: list[tuple[float, str]]) -> bool:
        """SIGKILL: the kill (requests sent just before it are received up to a second later).
        SIGTERM: the victim's release of the Lease (its last Lease write before it exited), both
        bounds; True when there is one."""
        if self.how == signal.SIGKILL:
            self.own_until, self.next_from = self.signalled + 1.0, self.signalled
            return False
        release = [t for t, replica in lease_writes if replica == self.victim and self.signalled <= t <= self.exited]
        self.own_until = self.next_from = max(release, default=self.exited + 1.0)
        return bool(release)


def analyse(audit_log: Path, users: dict[str, str], namespace: str, kill_log: list[Stop],
            result: Result) -> None:
    """The writes of each replica from the audit log: failover times and overlaps (see the docstring)."""
    replica_of = {user: replica for replica, user in users.items()}
    writes: list[tuple[float, str, str]] = []  # (received, replica, resource)
    lease_writes: list[tuple[float, str]] = []
    for line in audit_log.read_text().splitlines():
        event = json.loads(line)
        replica = replica_of.get(event["user"]["username"])
        if replica is None or event["verb"] not in WRITES or "objectRef" not in event:
            continue
        if event.get("stage") != "ResponseComplete" or event.get("responseStatus", {}).get("code", 500) >= 300:
            continue  # only writes that took effect
        ref = event["objectRef"]
        resource = ref["resource"] + (f"/{ref['subresource']}" if ref.get("subresource") else "")
        received = _when(event["requestReceivedTimestamp"])
        if ref["resource"] == "leases":
            lease_writes.append((received, replica))
        elif ref.get("namespace") in (namespace, None):
            writes.append((received, replica, resource))
    writes.sort()
    result.kopf_writes = dict(Counter(replica for _, replica, resource in writes if resource in KOPF_RESOURCES))
    for stopped in kill_log:
        result.released += stopped.analysed(lease_writes)
        # The next leader is whichever candidate wins: the other replica, or (as often, when both
        # saw the Lease's last renewal at the same moment) the killed one's restarted process. The
        # killed process made no request after the kill: anything received a second later is the
        # next leader's (it cannot take over within 10 s anyway); a stopped one, none after its release.
        after = stopped.own_until
        status = next((t for t, _, res in writes if t > after and res == "ecstasks/status"), None)
        acquired = next((t for t, _ in lease_writes if t > after), None)
        if status is not None:
            result.failover_s.append(status - stopped.signalled)
        if acquired is not None:
            result.acquire_s.append(acquired - stopped.signalled)
    for (t1, r1, res1), (t2, r2, res2) in itertools.pairwise(writes):
        # where the writer changes, the earlier one must have stopped in between (killed: with 1 s of
        # slack before, a request sent just before the kill is received a moment later; stopped:
        # its release of the Lease between the two writes)
        # (one replica's processes follow each other: the killed one is waited for before the next starts)
        if r1 != r2 and not any(s.victim == r1 and t1 <= s.own_until and s.next_from <= t2 for s in kill_log):
            result.overlaps.append(f"{r1} wrote {res1} at {t1:.3f}, {r2} wrote {res2} at {t2:.3f}, no kill between")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--rate", type=float, default=3.0, help="ECSTasks created per second throughout")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--stop", choices=("kill", "term"), default="kill",
                        help="kill -9 the leader (default), or stop it as Kubernetes stops a Pod (SIGTERM)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="failover-"))
    build.build()
    with running(Path(tempfile.mkdtemp(prefix="failover-plane-"))) as plane:
        result = run_failover(plane.kubeconfig, plane.audit_log, args.kills, args.rate, args.seed, workdir,
                              stop=signal.SIGKILL if args.stop == "kill" else signal.SIGTERM)
    for overlap in result.overlaps[:10]:
        print(f"OVERLAP: {overlap}")
    print(f"tasks={result.tasks} gap_free={result.gap_free} kopf_writes={result.kopf_writes} "
          f"restarted_won={result.restarted_won} released={result.released} "
          f"acquire_s={[round(s, 1) for s in result.acquire_s]} logs={workdir}")
    print(result.summary(), flush=True)
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
