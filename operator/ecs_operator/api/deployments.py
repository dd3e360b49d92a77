"""ListServiceDeployments, DescribeServiceDeployments: a service's deployments as ECS's service
deployments (what Terraform's wait_for_steady_state polls), from the deployments the operator
records in the ECSService's status.

A deployment `ecs-svc/<n>` is the service deployment `…:service-deployment/<cluster>/<service>/<n>`,
whose target is the service revision `…:service-revision/<cluster>/<service>/<n>`. The operator
drops a deployment once it is replaced and its tasks have stopped: only the deployments still
listed in the status are known (ECS keeps 90 days of them).
"""

from __future__ import annotations

import datetime
from typing import Any

from pydantic import ValidationError

from ..ecs import times
from ..ecs.services import ServiceSpec
from .clusters import find_cluster
from .errors import EcsError, invalid_parameter
from .pagination import page
from .services import find_service
from .session import Session
from .shapes import deployment_configuration, service_shape, timestamp

LIST_DEFAULT = 20
DESCRIBE_MAX = 20
STATUSES = ("PENDING", "SUCCESSFUL", "STOPPED", "STOP_REQUESTED", "IN_PROGRESS", "ROLLBACK_REQUESTED",
            "ROLLBACK_IN_PROGRESS", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED")


def deployment_arn(service_arn: str, deployment_id: str, kind: str = "service-deployment") -> str:
    """`…:service/<cluster>/<service>` and `ecs-svc/<n>` → `…:<kind>/<cluster>/<service>/<n>`."""
    return service_arn.replace(":service/", f":{kind}/", 1) + "/" + deployment_id.rsplit("/", 1)[-1]


def deployment_status(deployment: dict[str, Any], rollback: bool) -> str:
    """ECS's ServiceDeploymentStatus of one of the operator's deployments."""
    state = deployment.get("rolloutState")
    if state == "COMPLETED":
        return "SUCCESSFUL"
    if state == "FAILED":
        return "ROLLBACK_SUCCESSFUL" if rollback and deployment.get("status") != "PRIMARY" else "STOPPED"
    return "IN_PROGRESS" if deployment.get("status") == "PRIMARY" else "STOPPED"  # replaced before it completed


def _spec(obj: dict[str, Any]) -> ServiceSpec | None:
    try:
        return ServiceSpec.model_validate(obj.get("spec") or {})
    except ValidationError:
        return None


def _revision(service_arn: str, deployment: dict[str, Any]) -> dict[str, Any]:
    return {"arn": deployment_arn(service_arn, deployment["id"], "service-revision"),
            "requestedTaskCount": deployment.get("desiredCount", 0),
            "runningTaskCount": deployment.get("runningCount", 0),
            "pendingTaskCount": deployment.get("pendingCount", 0)}


def _deployments(obj: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[dict[str, Any], dict[str, Any]]]]:
    """(the Service shape, [(service deployment shape, the deployment record)])."""
    shape = service_shape(obj)
    spec = _spec(obj)
    breaker = spec.circuit_breaker() if spec else None
    records = (obj.get("status") or {}).get("deployments") or []
    out = []
    for deployment in records:
        status = deployment_status(deployment, bool(breaker and breaker.rollback))
        created, updated = timestamp(deployment.get("createdAt")), timestamp(deployment.get("updatedAt"))
        item: dict[str, Any] = {
            "serviceDeploymentArn": deployment_arn(shape["serviceArn"], deployment["id"]),
            "serviceArn": shape["serviceArn"], "clusterArn": shape["clusterArn"],
            "createdAt": created, "startedAt": created, "updatedAt": updated,
            # what it replaces: the deployments made before it that are still listed
            "sourceServiceRevisions": [_revision(shape["serviceArn"], d) for d in records
                                       if str(d.get("createdAt") or "") < str(deployment.get("createdAt") or "")],
            "targetServiceRevision": _revision(shape["serviceArn"], deployment),
            "status": status,
            "deploymentConfiguration": deployment_configuration(obj.get("spec") or {}),
        }
        if status != "IN_PROGRESS":
            item["finishedAt"] = updated
        if deployment.get("rolloutStateReason"):
            item["statusReason"] = deployment["rolloutStateReason"]
        item["deploymentCircuitBreaker"] = {
            "status": "DISABLED" if breaker is None else "TRIGGERED" if deployment.get("rolloutState") == "FAILED"
            else "MONITORING" if status == "IN_PROGRESS" else "MONITORING_COMPLETE",
            "failureCount": deployment.get("failedTasks", 0),
            "threshold": breaker.threshold(shape["desiredCount"]) if breaker else 0}
        out.append((item, deployment))
    return shape, out


def _moment(value: Any) -> datetime.datetime | None:
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.datetime.fromtimestamp(value, datetime.UTC)
    return times.parse(value)


BRIEF = ("serviceDeploymentArn", "serviceArn", "clusterArn", "startedAt", "createdAt", "finishedAt",
         "status", "statusReason")


def list_service_deployments(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    if not request.get("service"):
        raise invalid_parameter("service: required")
    cluster = find_cluster(session, request.get("cluster"))
    obj = find_service(session, cluster["metadata"]["name"], request["service"])
    wanted = request.get("status") or []
    unknown = [s for s in wanted if s not in STATUSES]
    if unknown:
        raise invalid_parameter(f"status: unknown value {unknown[0]}")
    window = request.get("createdAt") or {}
    after, before = _moment(window.get("after")), _moment(window.get("before"))
    _, items = _deployments(obj)
    entries = []
    for item, _ in items:
        created = item["createdAt"]
        if (wanted and item["status"] not in wanted) or (after and created and created < after) or (
                before and created and created > before):
            continue
        brief = {k: item[k] for k in BRIEF if k in item}
        brief["targetServiceRevisionArn"] = item["targetServiceRevision"]["arn"]
        # newest first (sort key: minus the creation time, then the id)
        entries.append(((-int((created.timestamp() if created else 0) * 1000), item["serviceDeploymentArn"]),
                        brief))
    entries.sort(key=lambda e: e[0])
    return page(entries, request, "serviceDeployments", default=LIST_DEFAULT)  # type: ignore[arg-type]


def describe_service_deployments(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    wanted = request.get("serviceDeploymentArns") or []
    if not wanted:
        raise invalid_parameter("serviceDeploymentArns: required")
    if len(wanted) > DESCRIBE_MAX:
        raise invalid_parameter(f"serviceDeploymentArns can have at most {DESCRIBE_MAX} items.")
    found, failures = [], []
    for arn in wanted:
        head, _, path = str(arn).partition(":service-deployment/")
        parts = path.split("/")
        item = None
        if head and len(parts) == 3:
            try:
                cluster = find_cluster(session, parts[0])
                obj = find_service(session, cluster["metadata"]["name"], parts[1])
            except EcsError:  # an unknown cluster or service: MISSING, as for an unknown deployment
                obj = None
            if obj is not None:
                item = next((i for i, _ in _deployments(obj)[1] if i["serviceDeploymentArn"] == arn), None)
        if item is None:
            failures.append({"arn": arn, "reason": "MISSING"})
        else:
            found.append(item)
    return {"serviceDeployments": found, "failures": failures}
