"""The service actions of the ECS API layer through the real control plane and operator: how a
request is stored, idempotency, name reuse after INACTIVE, UpdateService's patches, DeleteService's
rules, ListServices' pages and filters. (The kubectl verbs on top: test_service_verbs.py.)"""

from __future__ import annotations

from hashlib import sha256
from typing import Any

import pytest

from ecs_operator.api import Session, call
from ecs_operator.api.shapes import timestamp
from ecs_operator.ecs.labels import DELETE_REQUESTED_ANNOTATION
from tests.helpers import refused, wait_for, web_session

pytestmark = pytest.mark.controlplane

CONTAINER = {"name": "web", "image": "nginx:1.27", "cpu": 64, "memory": 32}


@pytest.fixture
def session(kube, namespace, operator_process, node_group) -> Session:
    """A session on a namespace with cluster `main` (two nodes) and family `web` at revision 2, 1 INACTIVE."""
    node_group(cluster="main", count=2)
    return web_session(kube.kubeconfig, namespace)


def stored(session: Session, name: str) -> dict[str, Any]:
    obj = session.get("ecsservices", name)
    assert obj is not None, name
    return obj


def test_create_service_stores_the_request_under_a_kubernetes_name(session):
    answer = call(session, "CreateService", {
        "cluster": "arn:aws:ecs:us-east-1:000000000000:cluster/main", "serviceName": "Web_Svc",
        "taskDefinition": "web", "desiredCount": 2, "clientToken": "abc"})["service"]
    assert stored(session, "web-svc")["spec"] == {"cluster": "main", "serviceName": "Web_Svc", "taskDefinition": "web",
                                                  "desiredCount": 2, "healthCheckGracePeriodSeconds": 0,
                                                  "schedulingStrategy": "REPLICA"}
    assert answer["serviceArn"] == "arn:aws:ecs:us-east-1:000000000000:service/main/Web_Svc"
    assert answer["taskDefinition"].endswith("task-definition/web:2")  # what "web" resolves to
    assert answer["status"] == "ACTIVE" and answer["deployments"][0]["status"] == "PRIMARY"
    # another service whose name makes the same Kubernetes name
    call(session, "CreateService", {"cluster": "main", "serviceName": "web-svc", "taskDefinition": "web",
                                    "desiredCount": 0})
    assert stored(session, "web-svc-" + sha256(b"web-svc").hexdigest()[:6])["spec"]["serviceName"] == "web-svc"


def test_create_service_is_idempotent_and_reuses_an_inactive_name(session):
    request = {"cluster": "main", "serviceName": "api", "taskDefinition": "web", "desiredCount": 1}
    call(session, "CreateService", request)
    uid = stored(session, "api")["metadata"]["uid"]
    again = call(session, "CreateService", {**request, "schedulingStrategy": "REPLICA"})["service"]
    assert again["serviceName"] == "api" and stored(session, "api")["metadata"]["uid"] == uid
    assert refused(session, "CreateService", {**request, "desiredCount": 2}) == (
        "InvalidParameterException", "Creation of service was not idempotent.")
    call(session, "DeleteService", {"cluster": "main", "service": "api", "force": True})
    wait_for(lambda: (stored(session, "api").get("status") or {}).get("status") == "INACTIVE",
             what="the deleted service INACTIVE")
    created = call(session, "CreateService", {**request, "desiredCount": 2})["service"]
    replaced = stored(session, "api")
    assert replaced["metadata"]["uid"] != uid and replaced["spec"]["desiredCount"] == 2
    assert created["status"] == "ACTIVE"


@pytest.mark.parametrize(("request_", "error"), [
    ({"serviceName": "a", "taskDefinition": "web", "desiredCount": 1, "cluster": "nope"},
     ("ClusterNotFoundException", "Cluster not found.")),
    ({"serviceName": "a", "taskDefinition": "other", "desiredCount": 1},
     ("ClientException", "TaskDefinition not found.")),
    ({"serviceName": "a", "taskDefinition": "web:1", "desiredCount": 1},
     ("ClientException", "TaskDefinition is inactive")),
    ({"serviceName": "a", "taskDefinition": "web", "desiredCount": -1, "launchType": "MOON"},
     ("InvalidParameterException", "desiredCount: Input should be greater than or equal to 0; launchType: Input "
                                   "should be 'EC2', 'FARGATE', 'EXTERNAL' or 'MANAGED_INSTANCES'")),
    ({"taskDefinition": "web", "desiredCount": 1}, ("InvalidParameterException", "serviceName: required")),
])
def test_create_service_refusals_create_nothing(session, request_, error):
    assert refused(session, "CreateService", {"cluster": "main", **request_}) == error
    assert session.list("ecsservices") == []


def test_update_service_patches_the_spec_as_ecs_changes_a_service(session):
    call(session, "CreateService", {"cluster": "main", "serviceName": "api", "taskDefinition": "web:2",
                                    "desiredCount": 1, "placementStrategy": [{"type": "random"}]})
    first = call(session, "DescribeServices", {"cluster": "main", "services": ["api"]})["services"][0]
    call(session, "UpdateService", {"cluster": "main", "service": "api", "taskDefinition": "web",
                                    "desiredCount": 3, "placementStrategy": []})
    spec = stored(session, "api")["spec"]
    assert (spec["taskDefinition"], spec["desiredCount"], spec.get("placementStrategy")) == ("web:2", 3, None)
    call(session, "UpdateService", {"service": "arn:aws:ecs:us-east-1:000000000000:service/main/api",
                                    "cluster": "main", "forceNewDeployment": True})
    assert len(stored(session, "api")["spec"]["forceNewDeploymentToken"]) == 32
    forced = wait_for(lambda: (s := call(session, "DescribeServices", {"cluster": "main", "services": ["api"]})
                               ["services"][0])["deployments"][0]["id"] != first["deployments"][0]["id"] and s,
                      what="a new deployment of the same revision")
    assert forced["deployments"][0]["taskDefinition"] == first["deployments"][0]["taskDefinition"]
    assert refused(session, "UpdateService", {"cluster": "main", "service": "api", "taskDefinition": "web:7"}) == (
        "ClientException", "Unable to describe task definition.")
    assert refused(session, "UpdateService", {"cluster": "main", "service": "nope", "desiredCount": 1}) == (
        "ServiceNotFoundException", "Service not found.")


def test_delete_service_needs_force_above_0_and_marks_the_service(session):
    call(session, "CreateService", {"cluster": "main", "serviceName": "api", "taskDefinition": "web",
                                    "desiredCount": 1})
    assert refused(session, "DeleteService", {"cluster": "main", "service": "api"}) == (
        "InvalidParameterException", "The service cannot be stopped while it is scaled above 0.")
    answer = call(session, "DeleteService", {"cluster": "main", "service": "api", "force": True})["service"]
    assert (answer["status"], answer["desiredCount"]) == ("DRAINING", 0)
    assert timestamp(stored(session, "api")["metadata"]["annotations"][DELETE_REQUESTED_ANNOTATION])
    assert refused(session, "UpdateService", {"cluster": "main", "service": "api", "desiredCount": 0}) == (
        "ServiceNotActiveException", "Service was not ACTIVE.")
    assert call(session, "ListServices", {"cluster": "main"}) == {"serviceArns": []}
    call(session, "CreateService", {"cluster": "main", "serviceName": "d", "taskDefinition": "web",
                                    "schedulingStrategy": "DAEMON"})
    assert call(session, "DeleteService", {"cluster": "main", "service": "d"})["service"]["status"] == "DRAINING"


def test_list_services_pages_by_10_and_filters(session):
    for i in range(12):
        call(session, "CreateService", {"cluster": "main", "serviceName": f"s{i:02d}", "taskDefinition": "web",
                                        "desiredCount": 0, **({"launchType": "FARGATE"} if i == 3 else {})})
    first = call(session, "ListServices", {"cluster": "main"})
    assert len(first["serviceArns"]) == 10 and first["serviceArns"][0].endswith("/main/s00")
    rest = call(session, "ListServices", {"cluster": "main", "nextToken": first["nextToken"]})
    assert [a.rsplit("/", 1)[-1] for a in rest["serviceArns"]] == ["s10", "s11"] and "nextToken" not in rest
    assert call(session, "ListServices", {"cluster": "main", "launchType": "FARGATE"})["serviceArns"] == [
        "arn:aws:ecs:us-east-1:000000000000:service/main/s03"]
    assert call(session, "ListServices", {"cluster": "main", "schedulingStrategy": "DAEMON"}) == {"serviceArns": []}
    described = call(session, "DescribeServices", {"cluster": "main", "services": ["s01", "nope"]})
    assert [s["serviceName"] for s in described["services"]] == ["s01"]
    assert described["failures"] == [{"arn": "nope", "reason": "MISSING"}]
