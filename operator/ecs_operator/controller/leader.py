"""Leader election over a `coordination.k8s.io/v1` Lease, as client-go's leaderelection does.

Every replica lists and watches (its caches stay warm); only the one holding the Lease reconciles
and runs kopf's handlers (controller/main.py). The Lease is `<id>` in the operator's namespace,
held by `<hostname>_<random suffix>`; a restarted process is a new candidate, never the old holder.

Our own implementation, not the official client's `kubernetes.leaderelection` (read in
kubernetes 37.0.1; it has a LeaseLock now, older versions only a ConfigMap lock), because there:
- the renew deadline is measured with the wall clock from the start of each renew attempt, not
  from the last successful renewal, and its requests have no timeout: a renew that hangs keeps the
  process leading past the deadline, while another replica may acquire the expired Lease;
- an error other than an ApiException (connection refused while the apiserver restarts) ends its
  thread without calling `onstopped_leading`: the leader would go on acting with nobody renewing;
- times go through `str(datetime)` and back, and a Lease whose leaseDurationSeconds differs from
  the candidate's own setting is judged by the candidate's.
Here, the Lease is read and replaced with optimistic concurrency (resourceVersion) as in client-go,
every request has a timeout, a candidate judges expiry by when *it* saw the record last change
(its own monotonic clock: no clock-skew assumption) and the holder's leaseDurationSeconds, and a
watchdog thread ends the process (`os._exit(1)`, the Deployment restarts it) once the last
successful renewal is older than the renew deadline, whatever the renewing thread is doing.
Defaults are controller-runtime's: 15 s lease, 10 s renew deadline, 2 s retry period. A leader
stopped gracefully (SIGTERM: a rolling update, a drained node) releases the Lease once nothing of
it acts any more (`release()`, main.py), as controller-runtime's LeaderElectionReleaseOnCancel:
the standby takes over within a retry period instead of the lease duration.
"""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubernetes.client.exceptions import ApiException

from . import kube

log = logging.getLogger(__name__)

JITTER = 1.2  # client-go's JitterFactor: candidates retry every retry_period × [1, 1.2)
_SA_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, str(default)))


def default_namespace() -> str:
    """The operator's own namespace: POD_NAMESPACE (the chart sets it from the downward API), else
    the in-cluster ServiceAccount's, else `default` (a local run: `default` always exists)."""
    if os.environ.get("ECS_LEADER_ELECTION_NAMESPACE"):
        return os.environ["ECS_LEADER_ELECTION_NAMESPACE"]
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    try:
        with open(_SA_NAMESPACE_FILE) as file:
            return file.read().strip() or "default"
    except OSError:
        return "default"


def default_identity() -> str:
    """The Pod's name (POD_NAME, else the hostname: a Pod's is its name) and a random suffix, as
    controller-runtime's: a restarted container is a new candidate and waits for the old Lease to
    expire."""
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}_{uuid.uuid4().hex[:12]}"


@dataclass
class LeaderConfig:
    namespace: str = field(default_factory=default_namespace)
    name: str = field(default_factory=lambda: os.environ.get("ECS_LEADER_ELECTION_ID", "ecs-operator"))
    identity: str = field(default_factory=default_identity)
    # A candidate takes over a Lease nobody renewed for this long (from when it last saw it change).
    lease_duration: float = field(default_factory=lambda: _env_float("ECS_LEASE_DURATION", 15))
    # The leader stops (exits) when it has not renewed for this long: before anyone can take over.
    renew_deadline: float = field(default_factory=lambda: _env_float("ECS_RENEW_DEADLINE", 10))
    # How often the leader renews and a candidate looks.
    retry_period: float = field(default_factory=lambda: _env_float("ECS_RETRY_PERIOD", 2))

    def __post_init__(self) -> None:
        if not self.lease_duration > self.renew_deadline > JITTER * self.retry_period > 0:
            raise ValueError(f"leader election: need lease duration ({self.lease_duration}) > renew deadline "
                             f"({self.renew_deadline}) > {JITTER} × retry period ({self.retry_period}) > 0")


def _now() -> str:
    """A MicroTime as the apiserver writes it (RFC 3339, always six fractional digits)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _exit(reason: str) -> None:
    """Stop acting at once: no cleanup that could still write. The Deployment restarts the container."""
    log.critical("leader election lost: %s; exiting", reason)
    for handler in logging.getLogger().handlers:
        handler.flush()
    os._exit(1)


class Elector:
    """Acquires and renews the Lease in a thread; `leading` is set while this process holds it.

    `on_lost(reason)` is called (once) when the Lease is lost: another holder seen, or no successful
    renewal for `renew_deadline`. It must not return to a leading process: the default exits.
    """

    def __init__(self, config: LeaderConfig, on_lost: Callable[[str], None] = _exit) -> None:
        self.config, self.on_lost = config, on_lost
        self.leading = threading.Event()
        self.acquired_at: float | None = None  # monotonic; when this process became the leader
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._observed: tuple[Any, ...] | None = None  # the last record seen …
        self._observed_at = 0.0  # … first seen then (monotonic)
        self._renewed_at = 0.0  # monotonic, taken *before* the last successful acquire/renew was sent
        self._threads: list[threading.Thread] = []
        # (connect, read) seconds: a request never outlives the time left to renew in.
        self._timeout = (min(5.0, config.retry_period), max(1.0, config.renew_deadline / 2))

    @property
    def path(self) -> str:
        return f"/apis/coordination.k8s.io/v1/namespaces/{self.config.namespace}/leases"

    def start(self) -> None:
        log.info("leader election: %s is a candidate for Lease %s/%s", self.config.identity,
                 self.config.namespace, self.config.name)
        for target, name in ((self._run, "leader-election"), (self._watchdog, "leader-watchdog")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stop renewing (and watching the deadline). The Lease is not released: it expires."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self._timeout[0] + self._timeout[1] + 1)

    def release(self) -> bool:
        """Stop renewing and give the Lease up, as client-go's ReleaseOnCancel: holder emptied,
        leaseDurationSeconds 1. A standby takes it within a retry period (2 s) instead of waiting
        for it to expire (15 s). Only for a process that no longer acts (main.py's handover). True
        when released; False when this process did not hold it, or the write failed (it expires)."""
        self.stop()
        if not self.leading.is_set() or self._lost.is_set():
            return False
        try:
            lease = self._call("GET", f"{self.path}/{self.config.name}")
            spec = lease.get("spec") or {}
            if spec.get("holderIdentity") != self.config.identity:
                return False
            now = _now()
            self._call("PUT", f"{self.path}/{self.config.name}", {
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.config.name, "namespace": self.config.namespace,
                             "resourceVersion": lease["metadata"]["resourceVersion"]},
                "spec": {"holderIdentity": "", "leaseDurationSeconds": 1, "acquireTime": now, "renewTime": now,
                         "leaseTransitions": int(spec.get("leaseTransitions") or 0)}})
        except Exception as err:  # the apiserver away, or a 409: the Lease expires as after a crash
            log.warning("leader election: Lease %s/%s not released: %s", self.config.namespace, self.config.name,
                        getattr(err, "reason", None) or err)
            return False
        self.leading.clear()
        log.warning("leader election: %s released Lease %s/%s", self.config.identity, self.config.namespace,
                    self.config.name)
        return True

    def wait(self, timeout: float | None = None) -> bool:
        return self.leading.wait(timeout)

    # ---------------------------------------------------------------- the API

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """One request with this elector's timeout (kube.send has the reconcilers' longer one)."""
        api = kube.api()
        method, url, headers, data, _ = api.param_serialize(
            method, path, header_params={"Accept": "application/json", "Content-Type": "application/json",
                                         "User-Agent": "ecs-operator/leader-election"},
            body=body, auth_settings=["BearerToken"])
        response = api.call_api(method, url, headers, data, _request_timeout=self._timeout)
        response.read()
        if not 200 <= response.status < 300:
            raise ApiException(status=response.status, reason=response.reason,
                               body=(response.data or b"").decode(errors="replace"))
        answer: dict[str, Any] = json.loads(response.data)
        return answer

    # ---------------------------------------------------------------- the loop

    def _lose(self, reason: str) -> None:
        if not self._lost.is_set():
            self._lost.set()
            self.leading.clear()
            self.on_lost(reason)

    def _watchdog(self) -> None:
        while not self._stop.wait(0.1):
            if self.leading.is_set():
                silent = time.monotonic() - self._renewed_at
                if silent > self.config.renew_deadline:
                    self._lose(f"Lease not renewed for {silent:.1f} s (renew deadline "
                               f"{self.config.renew_deadline:g} s)")

    def _run(self) -> None:
        while not self._stop.is_set() and not self._lost.is_set():
            attempt = time.monotonic()
            try:
                self._try_acquire_or_renew(attempt)
            except Exception as err:  # the apiserver away, a timeout: try again; the watchdog keeps the deadline
                log.warning("leader election: Lease %s/%s: %s", self.config.namespace, self.config.name,
                            getattr(err, "reason", None) or err)
            if self.leading.is_set():
                wake = attempt + self.config.retry_period
            else:
                wake = attempt + self.config.retry_period * random.uniform(1.0, JITTER)
                expires = self._expires_at()
                if expires is not None and time.monotonic() < expires < wake:
                    wake = expires + 0.01  # look again as the holder's Lease runs out, not up to 2 s later
            self._stop.wait(max(0.0, wake - time.monotonic()))

    def _credit(self, renew_time: str | None) -> float:
        """How long before this look the record was written, by the holder's renewTime, but never
        more than one retry period: a candidate polls every retry period, so it would otherwise see
        a renewal up to that much late, and take over that much later. Crediting the wall clock
        this far (and no further) keeps a candidate ahead of the holder's by any skew taking over
        no sooner than lease duration − retry period after the renewal (13 s; the holder has given
        up at 10 s)."""
        try:
            written = datetime.fromisoformat((renew_time or "").replace("Z", "+00:00"))
        except ValueError:
            return 0.0
        age = (datetime.now(UTC) - written).total_seconds()
        return min(max(age, 0.0), self.config.retry_period)

    def _expires_at(self) -> float | None:
        if self._observed is None or not self._observed[0] or self._observed[0] == self.config.identity:
            return None
        return self._observed_at + float(self._observed[3] or self.config.lease_duration)

    def _try_acquire_or_renew(self, attempt: float) -> None:
        me = self.config.identity
        try:
            lease = self._call("GET", f"{self.path}/{self.config.name}")
        except ApiException as err:
            if err.status != 404:
                raise
            self._write("POST", self.path, None, self._spec({}, acquire=True), attempt)
            return
        spec = lease.get("spec") or {}
        record = (spec.get("holderIdentity"), spec.get("renewTime"), spec.get("acquireTime"),
                  spec.get("leaseDurationSeconds"), spec.get("leaseTransitions"))
        if record != self._observed:
            if record[0] and record[0] != me and (self._observed is None or self._observed[0] != record[0]):
                log.info("leader election: the Lease is held by %s", record[0])
            self._observed, self._observed_at = record, time.monotonic() - self._credit(record[1])
        holder = spec.get("holderIdentity")
        if holder and holder != me:
            expires = self._expires_at()
            if expires is not None and time.monotonic() < expires:
                if self.leading.is_set():
                    self._lose(f"the Lease is held by {holder} now")
                return
        elif not holder:
            pass  # released: free to take
        elif not self.leading.is_set():
            # Our identity, but we never acquired it in this process: cannot happen (random suffix).
            return
        self._write("PUT", f"{self.path}/{self.config.name}", lease, self._spec(spec, acquire=holder != me),
                    attempt)

    def _spec(self, spec: dict[str, Any], acquire: bool) -> dict[str, Any]:
        now = _now()
        # a new holder of an existing Lease (held, expired or released) is a transition, as in client-go
        transitions = int(spec.get("leaseTransitions") or 0) + (1 if acquire and spec else 0)
        return {"holderIdentity": self.config.identity, "leaseDurationSeconds": round(self.config.lease_duration),
                "acquireTime": now if acquire else spec.get("acquireTime", now), "renewTime": now,
                "leaseTransitions": transitions}

    def _write(self, method: str, path: str, lease: dict[str, Any] | None, spec: dict[str, Any],
               attempt: float) -> None:
        body: dict[str, Any] = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                "metadata": {"name": self.config.name, "namespace": self.config.namespace},
                                "spec": spec}
        if lease is not None:  # replaced only if nobody wrote it since it was read
            body["metadata"]["resourceVersion"] = lease["metadata"]["resourceVersion"]
        try:
            self._call(method, path, body)
        except ApiException as err:
            if err.status == 409:  # another candidate was quicker, or the holder renewed meanwhile
                return
            raise
        if self._lost.is_set() or self._stop.is_set():
            return
        self._renewed_at = attempt
        self._observed = (spec["holderIdentity"], spec["renewTime"], spec["acquireTime"],
                          spec["leaseDurationSeconds"], spec["leaseTransitions"])
        self._observed_at = time.monotonic()
        if not self.leading.is_set():
            self.acquired_at = time.monotonic()
            self.leading.set()
            log.warning("leader election: %s acquired Lease %s/%s; leading", self.config.identity,
                        self.config.namespace, self.config.name)
