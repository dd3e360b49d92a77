"""Operator settings from the environment (`ecs-operator run` flags set them too)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..ecs import arns


def _float(name: str, default: float) -> float:
    return float(os.environ.get(name, str(default)))


@dataclass
class Settings:
    region: str = field(default_factory=lambda: os.environ.get("ECS_REGION", arns.DEFAULT_REGION))
    account: str = field(default_factory=lambda: os.environ.get("ECS_ACCOUNT_ID", arns.DEFAULT_ACCOUNT))
    # ECS keeps a stopped task about an hour; then its Pods go (and an imperative run entirely).
    stopped_task_retention: float = field(default_factory=lambda: _float("ECS_STOPPED_TASK_RETENTION", 3600))
    cluster_status_interval: float = field(default_factory=lambda: _float("ECS_CLUSTER_STATUS_INTERVAL", 2))
    # A task still on its way to RUNNING is reported (PENDING) only once it is this old: most tasks
    # run within it, and then one status write (RUNNING) is all they cost.
    pending_report_after: float = field(default_factory=lambda: _float("ECS_PENDING_REPORT_AFTER", 5))
    # The tasks of one ECSTask start within moments of each other: once one of them is RUNNING, the
    # status waits for the others still on their way until this long after the last of their Pods
    # was made (at most ECS_PENDING_REPORT_AFTER), and one write reports them.
    coalesce_window: float = field(default_factory=lambda: _float("ECS_STATUS_COALESCE", 1.0))
    # A watch stream silent for longer than this is stalled and re-opened: the apiserver sends a
    # bookmark every 60 s, so 70 s is never a quiet but healthy stream.
    watch_inactivity_timeout: float = field(default_factory=lambda: _float("ECS_WATCH_INACTIVITY_TIMEOUT", 70))
    # The ECS endpoint's URL as the tasks' Pods reach it (the chart's Service): containers get
    # ECS_CONTAINER_METADATA_URI_V4 under it. Empty: no task metadata endpoint.
    metadata_endpoint: str = field(default_factory=lambda: os.environ.get("ECS_METADATA_ENDPOINT", ""))
    # The namespaces served (`ecs-operator run --namespace`: names or globs); empty: all.
    namespaces: tuple[str, ...] = ()
    # The service scheduler: a task without a health check counts as healthy after RUNNING this long
    # (ECS: 40 s; tests shorten it); relaunches of tasks that keep failing to start wait from
    # `service_throttle_base` seconds, doubling, up to `service_throttle_cap` (ECS: 15 minutes).
    service_healthy_after: float = field(default_factory=lambda: _float("ECS_SERVICE_HEALTHY_AFTER", 40))
    service_throttle_base: float = field(default_factory=lambda: _float("ECS_SERVICE_THROTTLE_BASE", 10))
    service_throttle_cap: float = field(default_factory=lambda: _float("ECS_SERVICE_THROTTLE_CAP", 900))
    # A service's counts change with every task: its status is written at most this often for them.
    service_status_interval: float = field(default_factory=lambda: _float("ECS_SERVICE_STATUS_INTERVAL", 1))
    # A deleted service stays describable as INACTIVE this long, then its object goes (the name
    # is free again at once: CreateService replaces an INACTIVE service).
    inactive_service_retention: float = field(default_factory=lambda: _float("ECS_INACTIVE_SERVICE_RETENTION",
                                                                              3600))
    service_workers: int = field(default_factory=lambda: int(os.environ.get("ECS_SERVICE_WORKERS", "2")))
    # The API client is synchronous: workers are threads waiting on the apiserver, not on the CPU.
    # Enough of them that a burst's Pods are made about as fast as its ECSTasks arrive (the
    # apiserver is shared with whoever creates them): at N = 1,000 on 2 cores, cpu + 4 (6)
    # workers left op1's create→RUNNING p99 at 17 s, 16 brought it to 1.4–3.4 s (README, Performance);
    # 32 were worse (p99 10 s in one run: the scheduler and kwok fell behind a faster rush of Pods).
    task_workers: int = field(default_factory=lambda: int(os.environ.get(
        "ECS_TASK_WORKERS", str(min(64, 4 * (os.cpu_count() or 2) + 8)))))


SETTINGS = Settings()
