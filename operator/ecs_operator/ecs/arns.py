"""ECS ARNs in the long format (compulsory since 2021)."""

from __future__ import annotations

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "000000000000"


def _prefix(region: str, account: str) -> str:
    return f"arn:aws:ecs:{region}:{account}"


def cluster_arn(cluster: str, region: str = DEFAULT_REGION, account: str = DEFAULT_ACCOUNT) -> str:
    return f"{_prefix(region, account)}:cluster/{cluster}"


def task_definition_arn(family: str, revision: int, region: str = DEFAULT_REGION,
                        account: str = DEFAULT_ACCOUNT) -> str:
    return f"{_prefix(region, account)}:task-definition/{family}:{revision}"


def task_arn(cluster: str, task_id: str, region: str = DEFAULT_REGION, account: str = DEFAULT_ACCOUNT) -> str:
    return f"{_prefix(region, account)}:task/{cluster}/{task_id}"


def container_instance_arn(cluster: str, instance_id: str, region: str = DEFAULT_REGION,
                           account: str = DEFAULT_ACCOUNT) -> str:
    return f"{_prefix(region, account)}:container-instance/{cluster}/{instance_id}"


def container_arn(cluster: str, task_id: str, container_id: str, region: str = DEFAULT_REGION,
                  account: str = DEFAULT_ACCOUNT) -> str:
    return f"{_prefix(region, account)}:container/{cluster}/{task_id}/{container_id}"


def service_arn(cluster: str, service: str, region: str = DEFAULT_REGION, account: str = DEFAULT_ACCOUNT) -> str:
    return f"{_prefix(region, account)}:service/{cluster}/{service}"
