"""Services: an ECS service is the ECSService whose spec is its CreateService request; the
operator (controller/services.py) runs its tasks and writes ECS's Service shape to its status.

The object's name is the service name made a Kubernetes name (`resource_name`; a name another
service already holds gets a hash of the service name appended); spec.serviceName keeps the ECS
name. Service names are unique in the namespace, whatever the cluster. DeleteService only marks
the object (the `delete-requested` annotation): the operator drains it (DRAINING), keeps it
describable as INACTIVE for a while, then deletes it.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from pydantic import ValidationError

from ..ecs import times
from ..ecs.errors import describe_validation_error
from ..ecs.labels import DELETE_REQUESTED_ANNOTATION
from ..ecs.resources import resource_name, service_resource
from ..ecs.services import ServiceSpec
from .clusters import find_cluster
from .errors import EcsError, invalid_parameter
from .pagination import page
from .session import Session
from .shapes import resource_id, service_name, service_shape, service_status
from .task_definitions import find_revision, require_active

PLURAL = "ecsservices"
DESCRIBE_SERVICES_MAX = 10
LIST_SERVICES_PAGE = 10
# Members of CreateService's request that are not stored (idempotency by token is not kept).
NOT_STORED = ("clientToken",)
# UpdateService's members the spec takes as they are (besides service, cluster, taskDefinition and
# forceNewDeployment, which need more).
UPDATE_MEMBERS = (
    "desiredCount", "deploymentConfiguration", "placementConstraints", "placementStrategy",
    "healthCheckGracePeriodSeconds", "propagateTags", "enableExecuteCommand", "enableECSManagedTags",
    "capacityProviderStrategy", "networkConfiguration", "platformVersion", "loadBalancers", "serviceRegistries",
    "serviceConnectConfiguration", "volumeConfigurations", "vpcLatticeConfigurations", "availabilityZoneRebalancing",
    "deploymentController",
)
# Members that replace the spec's value (merge patch would merge into objects): `[]` clears.
UPDATE_REPLACES = ("placementConstraints", "placementStrategy")
UPDATE_KNOWN = ("cluster", "service", "taskDefinition", "forceNewDeployment", *UPDATE_MEMBERS)


def service_not_found() -> EcsError:
    return EcsError("ServiceNotFoundException", "Service not found.")


def service_not_active() -> EcsError:
    return EcsError("ServiceNotActiveException", "Service was not ACTIVE.")


def _validated(spec: dict[str, Any]) -> ServiceSpec:
    try:
        return ServiceSpec.model_validate(spec)
    except ValidationError as err:
        raise invalid_parameter("; ".join(describe_validation_error(err))) from None


def _canonical(spec: dict[str, Any]) -> dict[str, Any] | None:
    """A spec with ECS's defaults filled in, for comparing two (None: not a valid spec)."""
    try:
        dumped = ServiceSpec.model_validate(spec).dump()
    except ValidationError:
        return None
    dumped.pop("forceNewDeploymentToken", None)
    return dumped


def _in_cluster(obj: dict[str, Any], cluster: str) -> bool:
    return ((obj.get("spec") or {}).get("cluster") or "default") == cluster


def find_service(session: Session, cluster: str, wanted: str) -> dict[str, Any]:
    """The ECSService of a service name or ARN in the cluster; ServiceNotFoundException if none."""
    name = resource_id(wanted)
    found = next((o for o in session.list(PLURAL) if _in_cluster(o, cluster) and service_name(o) == name), None)
    if found is None:
        raise service_not_found()
    return found


def _cluster_arn(cluster: dict[str, Any]) -> str | None:
    return (cluster.get("status") or {}).get("clusterArn") or None


def _free_name(session: Session, service: str) -> str:
    """The Kubernetes name for a new service: its name made one, unless another service holds it."""
    name = resource_name(service) if any(c.isalnum() for c in service) else "service"
    holder = session.get(PLURAL, name)
    if holder is not None and service_name(holder) != service:
        name = f"{name}-{hashlib.sha256(service.encode()).hexdigest()[:6]}"
    return name


# --------------------------------------------------------------------------- actions


def create_service(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    service = request.get("serviceName")
    if not service:
        raise invalid_parameter("serviceName: required")
    cluster = find_cluster(session, request.get("cluster"))
    spec = {k: v for k, v in request.items() if k not in NOT_STORED and v is not None}
    spec["cluster"] = cluster["metadata"]["name"]
    validated = _validated(spec)
    spec = validated.model_dump(mode="json", exclude_none=True, exclude_unset=True, by_alias=True)
    try:
        _, revision, _ = find_revision(session, validated.task_definition_ref())
    except EcsError as err:
        if err.code != "ClientException":
            raise
        raise EcsError("ClientException", "TaskDefinition not found.") from None
    require_active(revision)
    existing = next((o for o in session.list(PLURAL) if service_name(o) == service), None)
    if existing is not None:
        if service_status(existing) != "INACTIVE":
            if _canonical({**(existing.get("spec") or {}), "serviceName": service}) != _canonical(spec):
                raise invalid_parameter("Creation of service was not idempotent.")
            return {"service": service_shape(existing, cluster_arn=_cluster_arn(cluster),
                                             task_definition_arn=revision["taskDefinitionArn"])}
        old = existing["metadata"]["name"]
        session.delete(PLURAL, old)  # an INACTIVE service's name is free again
        session.wait(lambda: session.get(PLURAL, old) is None)
    name = _free_name(session, service)
    session.create(PLURAL, service_resource(name, spec))
    obj = session.wait(lambda: (o := session.get(PLURAL, name)) and (o.get("status") or {}).get("deployments") and o)
    obj = obj or session.get(PLURAL, name) or service_resource(name, spec) | {"metadata": {
        "name": name, "namespace": session.namespace}}
    return {"service": service_shape(obj, cluster_arn=_cluster_arn(cluster),
                                     task_definition_arn=revision["taskDefinitionArn"])}


def _observed(obj: dict[str, Any], generation: int | None) -> bool:
    """Has the operator handled this generation of the spec (or a later one)?"""
    ready = next((c for c in (obj.get("status") or {}).get("conditions", []) if c.get("type") == "Ready"), None)
    seen = (ready or {}).get("observedGeneration")
    return generation is None or (isinstance(seen, int) and seen >= generation)


def _merged(spec: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """`spec` with a JSON merge patch applied (RFC 7396: null removes, objects merge)."""
    merged = dict(spec)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged


def update_service(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    wanted = request.get("service")
    if not wanted:
        raise invalid_parameter("service: required")
    unknown = sorted(k for k in request if k not in UPDATE_KNOWN)
    if unknown:
        raise invalid_parameter("; ".join(f"{k}: unknown field (not part of the ECS API)" for k in unknown))
    cluster = find_cluster(session, request.get("cluster"))
    obj = find_service(session, cluster["metadata"]["name"], wanted)
    if service_status(obj) != "ACTIVE":
        raise service_not_active()
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    patch: dict[str, Any] = {}
    for key in UPDATE_MEMBERS:
        if key in request and request[key] is not None:
            value = request[key]
            patch[key] = None if key in UPDATE_REPLACES and value == [] else value
    if request.get("taskDefinition"):
        _, revision, _ = find_revision(session, request["taskDefinition"])  # "Unable to describe task definition."
        require_active(revision)
        running = resource_id(status.get("taskDefinition") or "")
        named = resource_id(revision["taskDefinitionArn"])
        if named != running:  # the revision it runs named again starts no deployment (`ecs scale`)
            patch["taskDefinition"] = named
    if request.get("forceNewDeployment") is True:
        patch["forceNewDeploymentToken"] = uuid.uuid4().hex
    _validated(_merged(spec, patch))
    if patch:
        obj = session.patch(PLURAL, obj["metadata"]["name"], {"spec": patch})
    name, generation = obj["metadata"]["name"], obj["metadata"].get("generation")

    def observed() -> dict[str, Any] | None:
        now = session.get(PLURAL, name)
        return now if now is not None and _observed(now, generation) else None

    obj = session.wait(observed) or session.get(PLURAL, name) or obj
    return {"service": service_shape(obj, cluster_arn=_cluster_arn(cluster))}


def describe_services(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    wanted = request.get("services") or []
    if not wanted:
        raise invalid_parameter("Services cannot be empty.")
    if len(wanted) > DESCRIBE_SERVICES_MAX:
        raise invalid_parameter(f"service names can have at most {DESCRIBE_SERVICES_MAX} items.")
    cluster = find_cluster(session, request.get("cluster"))
    tags = "TAGS" in (request.get("include") or [])
    by_name = {service_name(o): o for o in session.list(PLURAL) if _in_cluster(o, cluster["metadata"]["name"])}
    services, failures = [], []
    for service in wanted:
        obj = by_name.get(resource_id(str(service)))
        if obj is None:
            failures.append({"arn": service, "reason": "MISSING"})
        else:
            services.append(service_shape(obj, tags=tags, cluster_arn=_cluster_arn(cluster)))
    return {"services": services, "failures": failures}


def list_services(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    cluster = find_cluster(session, request.get("cluster"))
    launch_type, strategy = request.get("launchType"), request.get("schedulingStrategy")
    entries = []
    for obj in session.list(PLURAL):
        if not _in_cluster(obj, cluster["metadata"]["name"]) or service_status(obj) != "ACTIVE":
            continue
        shape = service_shape(obj, cluster_arn=_cluster_arn(cluster))
        if launch_type and shape["launchType"] != launch_type:
            continue
        if strategy and shape["schedulingStrategy"] != strategy:
            continue
        entries.append(((shape["serviceName"],), shape["serviceArn"]))
    entries.sort()
    return page(entries, request, "serviceArns", default=LIST_SERVICES_PAGE)


def delete_service(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    wanted = request.get("service")
    if not wanted:
        raise invalid_parameter("service: required")
    cluster = find_cluster(session, request.get("cluster"))
    obj = find_service(session, cluster["metadata"]["name"], wanted)
    state = service_status(obj)
    if state == "INACTIVE":
        raise service_not_active()
    spec = obj.get("spec") or {}
    if state == "ACTIVE":
        if (spec.get("schedulingStrategy") != "DAEMON" and (spec.get("desiredCount") or 0) > 0
                and request.get("force") is not True):
            raise invalid_parameter("The service cannot be stopped while it is scaled above 0.")
        obj = session.patch(PLURAL, obj["metadata"]["name"], {"metadata": {"annotations": {
            DELETE_REQUESTED_ANNOTATION: times.now()}}})
    shape = service_shape(obj, cluster_arn=_cluster_arn(cluster))
    return {"service": shape | {"status": "DRAINING", "desiredCount": 0}}
