"""Clusters and their container instances: an ECS cluster is the ECSCluster of that name, its
container instances the nodes of its node group, as the operator reports them in its status."""

from __future__ import annotations

from typing import Any

from ..ecs.resources import cluster_resource
from .errors import cluster_not_found
from .pagination import page
from .session import Session
from .shapes import cluster_shape, container_instance_shape, resource_id

DEFAULT_CLUSTER = "default"


def find_cluster(session: Session, name_or_arn: str | None) -> dict[str, Any]:
    obj = session.get("ecsclusters", resource_id(name_or_arn or DEFAULT_CLUSTER))
    if obj is None:
        raise cluster_not_found()
    return obj


def create_cluster(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    name = request.get("clusterName") or DEFAULT_CLUSTER
    if session.get("ecsclusters", name) is None:
        session.create("ecsclusters", cluster_resource(name))
    obj = session.wait(lambda: (o := session.get("ecsclusters", name)) and (o.get("status") or {}).get("clusterArn")
                       and o)
    return {"cluster": cluster_shape(obj or session.get("ecsclusters", name) or {"metadata": {"name": name}})}


def list_clusters(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    entries = [((o["metadata"]["name"],), arn) for o in session.list("ecsclusters")
               if (arn := cluster_shape(o)["clusterArn"])]
    return page(entries, request, "clusterArns")


def describe_clusters(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    clusters, failures = [], []
    for wanted in request.get("clusters") or [DEFAULT_CLUSTER]:
        obj = session.get("ecsclusters", resource_id(wanted))
        if obj is None:
            failures.append({"arn": wanted, "reason": "MISSING"})
        else:
            clusters.append(cluster_shape(obj))
    return {"clusters": clusters, "failures": failures}


def _instances(session: Session, cluster: str | None) -> list[dict[str, Any]]:
    instances: list[dict[str, Any]] = (find_cluster(session, cluster).get("status") or {}).get(
        "containerInstances", [])
    return instances


def list_container_instances(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    status = request.get("status")
    entries = [((i["ec2InstanceId"],), i["containerInstanceArn"]) for i in _instances(session, request.get("cluster"))
               if not status or i["status"] == status]
    return page(entries, request, "containerInstanceArns")


def describe_container_instances(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    instances = {resource_id(i["containerInstanceArn"]): i for i in _instances(session, request.get("cluster"))}
    by_name = {i["ec2InstanceId"]: i for i in instances.values()}
    found, failures = [], []
    for wanted in request.get("containerInstances") or []:
        instance = instances.get(resource_id(wanted)) or by_name.get(wanted)
        if instance is None:
            failures.append({"arn": wanted, "reason": "MISSING"})
        else:
            found.append(container_instance_shape(instance))
    return {"containerInstances": found, "failures": failures}
