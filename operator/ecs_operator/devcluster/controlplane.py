"""Start and stop a real Kubernetes control plane as local processes.

etcd, kube-apiserver, kube-scheduler, kube-controller-manager and kwok (standing in for kubelets)
run on loopback with free ports, in one process group of their own, so that stopping the group
stops everything and two runs never clash. Everything a run writes stays in its directory:
`kubeconfig`, `logs/<component>.log`, `pki/`, `etcd/` and `state.json` (what `down` needs).
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from . import build, pki

SERVICE_CIDR = "10.96.0.0/16"
# kwok hands out pod IPs from this range; it is wide so that benchmarks with many thousands of
# Pods never run out. No traffic goes to these addresses: kwok runs no containers.
POD_CIDR = "10.128.0.0/10"
SCHEDULER_QPS = 500  # the default 50 requests/s caps every throughput figure
SCHEDULER_BURST = 1000
COMPONENTS = ("etcd", "kube-apiserver", "kube-scheduler", "kube-controller-manager", "kwok")
KWOK_NODE_LABEL = "kwok.x-k8s.io/node"  # nodes with label kwok.x-k8s.io/node=fake are kwok's
# Only this namespace's ServiceAccounts are audited: what the operator's RBAC is checked against.
AUDITED_NAMESPACE = "ecs-system"


class ControlPlaneError(RuntimeError):
    """The control plane failed to start: one line saying what failed, where its log is, what to do."""


class PortTakenError(ControlPlaneError):
    """A component found its port taken: another process bound it after we chose it (a race)."""


PORT_NAMES = ("etcd", "etcd-peer", "apiserver", "scheduler", "controller-manager", "kwok")


def _free_ports(names: tuple[str, ...] = PORT_NAMES) -> dict[str, int]:
    """Free loopback ports, all different: every socket stays bound until all are chosen."""
    with contextlib.ExitStack() as stack:
        ports = {}
        for name in names:
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports[name] = int(sock.getsockname()[1])
        return ports


def _one_line(text: str, limit: int = 240) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _log_cause(text: str) -> str:
    """The line of a component's log that most likely says why it stopped, on one line."""
    lines = [line for line in text.splitlines() if line.strip()]
    for line in reversed(lines[-60:]):
        if line.startswith("{"):
            with contextlib.suppress(ValueError, AttributeError):
                entry = json.loads(line)
                if entry.get("level") in ("fatal", "panic", "error"):
                    return _one_line(": ".join(str(entry[k]) for k in ("msg", "error") if entry.get(k)))
            continue
        if re.match(r"(Error|error|[EF]\d{4} )", line):
            return _one_line(line)
    return _one_line(lines[-1]) if lines else ""


def _die_with_parent() -> None:
    """preexec_fn: the child gets SIGKILL when the process that started it dies (Linux)."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL)


def etcd_binary() -> str:
    """The pinned etcd built by `make controlplane`, or the one ECS_ETCD_BINARY names."""
    override = os.environ.get("ECS_ETCD_BINARY")
    if override:
        if not os.access(override, os.X_OK):
            raise ControlPlaneError(f"ECS_ETCD_BINARY={override} is not an executable file: fix or unset it")
        return override
    built = build.etcd_binary()
    if not built.is_file():
        raise ControlPlaneError(f"etcd is not built ({built} missing): run `make controlplane` first")
    return str(built)


@dataclass
class ControlPlane:
    """One local control plane, rooted at `dir`.

    `detached=False` (tests, demo, benchmarks): components die with this Python process, even on
    SIGKILL. `detached=True` (`ecs-operator dev-cluster up`): they outlive it until `down`.
    """

    dir: Path
    detached: bool = False
    ports: dict[str, int] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)
    pgid: int | None = None
    _procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _argv: dict[str, list[str]] = field(default_factory=dict)

    # ------------------------------------------------------------------ paths
    @property
    def kubeconfig(self) -> Path:
        return self.dir / "kubeconfig"

    @property
    def log_dir(self) -> Path:
        return self.dir / "logs"

    @property
    def state_file(self) -> Path:
        return self.dir / "state.json"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports['apiserver']}"

    def log(self, component: str) -> Path:
        return self.log_dir / f"{component}.log"

    def log_tail(self, component: str, lines: int = 30) -> str:
        path = self.log(component)
        if not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    # ------------------------------------------------------------------ start
    def start(self, timeout: float = 90.0) -> None:
        """Start every component and return once the cluster is ready for Pods."""
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.state_file.exists():
            stop_dir(self.dir)  # a stale run in this directory: never leave two behind
        bins = build.bin_dir()
        if not build.binaries_ready():
            raise ControlPlaneError(
                f"control-plane binaries missing in {bins} or {build.etcd_binary().parent}: "
                "run `make controlplane` first"
            )
        missing = build.missing_system_commands()
        if missing:
            raise ControlPlaneError(build.install_hint(missing))
        self.log_dir.mkdir(exist_ok=True)
        keys = pki.create(self.dir / "pki")
        deadline = time.monotonic() + timeout
        # Ports are chosen free, but another process may bind one before its component does:
        # then start again on fresh ports, once.
        for attempt in range(2):
            try:
                self._start_components(keys, bins, deadline)
                return
            except PortTakenError:
                self.stop()
                if attempt:
                    raise
            except BaseException:
                self.stop()
                raise

    def _start_components(self, keys: pki.Pki, bins: Path, deadline: float) -> None:
        self.ports = _free_ports()
        self._write_kubeconfig(keys)
        self._start_etcd()
        self._wait_http(f"http://127.0.0.1:{self.ports['etcd']}/health", "etcd", deadline)
        self._start_apiserver(keys, bins)
        self._wait_apiserver(keys, deadline)
        self._start_scheduler(bins)
        self._start_controller_manager(keys, bins)
        self._start_kwok(bins)
        self._write_state()
        self._wait_http(
            f"https://127.0.0.1:{self.ports['scheduler']}/healthz", "kube-scheduler", deadline
        )
        self._wait_http(
            f"https://127.0.0.1:{self.ports['controller-manager']}/healthz",
            "kube-controller-manager", deadline,
        )
        self._wait_default_service_account(keys, deadline)

    def _spawn(self, component: str, argv: list[str], append_log: bool = False) -> None:
        self._argv[component] = argv
        log = self.log(component).open("ab" if append_log else "wb")
        kwargs: dict[str, Any] = {
            "stdout": log, "stderr": subprocess.STDOUT, "stdin": subprocess.DEVNULL,
        }
        if self.pgid is None:
            kwargs["process_group"] = 0  # the first component leads a new group
        else:
            kwargs["process_group"] = self.pgid
        if not self.detached:
            kwargs["preexec_fn"] = _die_with_parent
        proc = subprocess.Popen(argv, cwd=self.dir, **kwargs)
        log.close()
        if self.pgid is None:
            self.pgid = proc.pid
        self._procs[component] = proc
        self.pids[component] = proc.pid

    def _start_etcd(self) -> None:
        data = self.dir / "etcd"
        if data.exists():
            shutil.rmtree(data)
        client = f"http://127.0.0.1:{self.ports['etcd']}"
        peer = f"http://127.0.0.1:{self.ports['etcd-peer']}"
        self._spawn("etcd", [
            # Not "default": etcd 3.6 warns about that name.
            etcd_binary(), "--name=ecs-dev", f"--data-dir={data}",
            f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=ecs-dev={peer}",
            "--listen-metrics-urls=",
            # Compaction keeps a long benchmark's etcd small; 5 minutes of history is ample
            # for watch resumption, and shorter values are how tests force 410 Gone.
            "--auto-compaction-mode=periodic",
            f"--auto-compaction-retention={os.environ.get('ECS_DEV_ETCD_COMPACTION', '5m')}",
            "--quota-backend-bytes=8589934592",
            "--log-level=warn",
        ])

    @property
    def audit_log(self) -> Path:
        """Requests made by ServiceAccounts of namespace `ecs-system` (RBAC tests read it)."""
        return self.log_dir / "audit.log"

    def _write_audit_policy(self) -> Path:
        policy = self.dir / "audit-policy.yaml"
        policy.write_text(yaml.safe_dump({
            "apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitStages": ["RequestReceived"],
            "rules": [
                {"level": "Metadata", "userGroups": [f"system:serviceaccounts:{AUDITED_NAMESPACE}"]},
                {"level": "None"},
            ],
        }))
        return policy

    def _start_apiserver(self, keys: pki.Pki, bins: Path) -> None:
        policy = self._write_audit_policy()
        self._spawn("kube-apiserver", [
            str(bins / "kube-apiserver"),
            f"--audit-policy-file={policy}", f"--audit-log-path={self.audit_log}", "--audit-log-format=json",
            "--audit-log-mode=blocking",  # written before the response: a test reads it right after
            f"--etcd-servers=http://127.0.0.1:{self.ports['etcd']}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
            # 1.37 refuses a loopback address for the kubernetes Service endpoints; nothing in
            # this dev cluster reaches the apiserver through that Service.
            "--endpoint-reconciler-type=none",
            f"--secure-port={self.ports['apiserver']}",
            f"--cert-dir={self.dir / 'pki'}",
            f"--tls-cert-file={keys.serving_cert}", f"--tls-private-key-file={keys.serving_key}",
            f"--client-ca-file={keys.ca_cert}",
            "--authorization-mode=Node,RBAC",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={keys.sa_pub}",
            f"--service-account-signing-key-file={keys.sa_key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            # Privileged Pods must be admissible so an ECSCluster's policy can allow them; our
            # operator refuses them by default, and Pod Security admission still applies.
            "--allow-privileged=true",
            # WatchList (streaming lists) stays at its default: it needs etcd's RequestWatchProgress,
            # which the pinned etcd 3.6 has (Debian's 3.4.23 did not, and needed WatchList=false).
            "--profiling=true",
            "--v=1",
        ])

    def _component_common(self, name: str, port: int) -> list[str]:
        return [
            f"--authentication-kubeconfig={self.kubeconfig}",
            f"--authorization-kubeconfig={self.kubeconfig}",
            "--bind-address=127.0.0.1", f"--secure-port={port}",
            f"--cert-dir={self.dir / 'pki' / name}",
            "--v=1",
        ]

    def _start_scheduler(self, bins: Path) -> None:
        config = self.dir / "scheduler-config.yaml"
        config.write_text(yaml.safe_dump({
            "apiVersion": "kubescheduler.config.k8s.io/v1",
            "kind": "KubeSchedulerConfiguration",
            "clientConnection": {
                "kubeconfig": str(self.kubeconfig), "qps": SCHEDULER_QPS, "burst": SCHEDULER_BURST,
            },
            "leaderElection": {"leaderElect": False},
        }))
        self._spawn("kube-scheduler", [
            str(bins / "kube-scheduler"), f"--config={config}",
            *self._component_common("kube-scheduler", self.ports["scheduler"]),
        ])

    def _start_controller_manager(self, keys: pki.Pki, bins: Path) -> None:
        self._spawn("kube-controller-manager", [
            str(bins / "kube-controller-manager"),
            f"--kubeconfig={self.kubeconfig}",
            *self._component_common("kube-controller-manager", self.ports["controller-manager"]),
            "--leader-elect=false",
            f"--service-account-private-key-file={keys.sa_key}",
            f"--root-ca-file={keys.ca_cert}",
            "--use-service-account-credentials=true",
            # The garbage collector and pod GC must keep up with benchmark bursts.
            "--kube-api-qps=300", "--kube-api-burst=600", "--concurrent-gc-syncs=20",
            # Node IPAM has nothing to do: kwok assigns pod IPs itself.
            "--controllers=*,-node-ipam-controller",
        ])

    def _start_kwok(self, bins: Path) -> None:
        stages = self.dir / "kwok.yaml"
        stages.write_text(
            resources.files("ecs_operator.devcluster").joinpath("kwok-stages.yaml").read_text()
        )
        self._spawn("kwok", [
            str(bins / "kwok"),
            f"--kubeconfig={self.kubeconfig}",
            f"--config={stages}",
            "--manage-all-nodes=false",
            f"--manage-nodes-with-label-selector={KWOK_NODE_LABEL}=fake",
            f"--server-address=127.0.0.1:{self.ports['kwok']}",
            f"--cidr={POD_CIDR}",
            "--node-ip=127.0.0.1",
        ])

    def _write_kubeconfig(self, keys: pki.Pki) -> None:
        def b64(path: Path) -> str:
            return base64.b64encode(path.read_bytes()).decode()

        config = {
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "ecs-dev", "cluster": {
                "server": self.server, "certificate-authority-data": b64(keys.ca_cert)}}],
            "users": [{"name": "ecs-dev-admin", "user": {
                "client-certificate-data": b64(keys.admin_cert), "client-key-data": b64(keys.admin_key)}}],
            "contexts": [{"name": "ecs-dev", "context": {"cluster": "ecs-dev", "user": "ecs-dev-admin"}}],
            "current-context": "ecs-dev",
        }
        self.kubeconfig.write_text(yaml.safe_dump(config))
        self.kubeconfig.chmod(0o600)

    def _write_state(self) -> None:
        self.state_file.write_text(json.dumps({
            "pgid": self.pgid, "pids": self.pids, "ports": self.ports, "detached": self.detached,
        }, indent=2))

    # ------------------------------------------------------------------ readiness
    def _check_alive(self) -> None:
        for component, proc in self._procs.items():
            if proc.poll() is not None:
                raise self._exited(component, proc.returncode)

    def _exited(self, component: str, status: int) -> ControlPlaneError:
        """One line: which component died, why (from its log), where the log is, what to do."""
        log = self.log(component)
        text = log.read_text(errors="replace") if log.exists() else ""
        taken = re.search(r"127\.0\.0\.1:(\d+): bind: address already in use", text)
        if taken:
            port = int(taken[1])
            name = next((n for n, p in self.ports.items() if p == port), "its")
            return PortTakenError(
                f"{component} could not listen on 127.0.0.1:{port} ({name} port): another process took it "
                f"after it was chosen as free; run again (see `ss -ltnp 'sport = :{port}'` and {log})"
            )
        cause = _log_cause(text)
        return ControlPlaneError(
            f"{component} exited at start with status {status}{f' ({cause})' if cause else ''}; see {log}"
        )

    def _ssl_context(self, keys: pki.Pki | None = None) -> ssl.SSLContext:
        if keys is None:
            # scheduler and controller-manager serve self-signed certs; /healthz is public.
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return ctx
        ctx = ssl.create_default_context(cafile=str(keys.ca_cert))
        ctx.load_cert_chain(str(keys.admin_cert), str(keys.admin_key))
        return ctx

    def _get(self, url: str, keys: pki.Pki | None = None) -> tuple[int, bytes]:
        ctx = self._ssl_context(keys) if url.startswith("https") else None
        try:
            with urllib.request.urlopen(url, timeout=3, context=ctx) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()
        except (urllib.error.URLError, OSError):
            return 0, b""

    def _wait(self, what: str, component: str, deadline: float, probe: Any) -> None:
        while True:
            self._check_alive()
            if probe():
                return
            if time.monotonic() > deadline:
                text = self.log(component).read_text(errors="replace") if self.log(component).exists() else ""
                cause = _log_cause(text)
                raise ControlPlaneError(
                    f"timed out waiting for {what}{f' (last in its log: {cause})' if cause else ''}; "
                    f"see {self.log(component)}; a slow machine may need a longer --timeout"
                )
            time.sleep(0.1)

    def _wait_http(self, url: str, component: str, deadline: float) -> None:
        self._wait(url, component, deadline, lambda: self._get(url)[0] == 200)

    def _wait_apiserver(self, keys: pki.Pki, deadline: float) -> None:
        url = f"{self.server}/readyz"
        self._wait("kube-apiserver /readyz", "kube-apiserver", deadline,
                   lambda: self._get(url, keys)[0] == 200)

    def _wait_default_service_account(self, keys: pki.Pki, deadline: float) -> None:
        # The ServiceAccount admission plugin refuses Pods until the controller-manager has
        # created the namespace's `default` ServiceAccount.
        url = f"{self.server}/api/v1/namespaces/default/serviceaccounts/default"
        self._wait("the default ServiceAccount", "kube-controller-manager", deadline,
                   lambda: self._get(url, keys)[0] == 200)

    # ------------------------------------------------------------------ faults
    def restart(self, component: str, downtime: float = 0.0, timeout: float = 60.0) -> None:
        """Stop one component and start it again as it was (same ports, flags and data): for fault tests."""
        proc = self._procs[component]
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        time.sleep(downtime)
        self._spawn(component, self._argv[component], append_log=True)
        self._write_state()
        if component == "kube-apiserver":
            self._wait_apiserver(pki.Pki(self.dir / "pki"), time.monotonic() + timeout)

    # ------------------------------------------------------------------ stop
    def stop(self) -> None:
        if self.pgid is not None:
            _kill_group(self.pgid, list(self.pids.values()))
        for proc in self._procs.values():
            with contextlib.suppress(Exception):
                proc.wait(timeout=1)
        self._procs.clear()
        self.pgid = None
        with contextlib.suppress(FileNotFoundError):
            self.state_file.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie has exited: only its parent's wait() is missing.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _kill_group(pgid: int, pids: list[int], grace: float = 5.0) -> None:
    """SIGTERM the group, then SIGKILL whatever is left after `grace` seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    # Return only once they are gone: a caller may start another control plane right away.
    deadline = time.monotonic() + grace
    while True:
        for pid in pids:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)
        if not any(_alive(p) for p in pids) or time.monotonic() > deadline:
            return
        time.sleep(0.05)


def stop_dir(directory: Path) -> bool:
    """Stop the control plane recorded in `directory`; False when none was running."""
    state_file = directory / "state.json"
    if not state_file.exists():
        return False
    state = json.loads(state_file.read_text())
    pids = [int(p) for p in state.get("pids", {}).values()]
    # Only signal a group whose leader is still one of ours: pids are reused.
    pgid = int(state["pgid"])
    try:
        still_ours = os.getpgid(pgid) == pgid and any(_alive(p) for p in pids)
    except ProcessLookupError:
        still_ours = False
    if still_ours:
        _kill_group(pgid, pids)
    state_file.unlink()
    return still_ours


@contextlib.contextmanager
def running(directory: Path, timeout: float = 90.0) -> Iterator[ControlPlane]:
    """A control plane for the duration of a `with` block (tests, demo, benchmarks)."""
    plane = ControlPlane(directory)
    plane.start(timeout=timeout)
    try:
        yield plane
    finally:
        plane.stop()
