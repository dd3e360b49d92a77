"""The ECS actions added to the API layer, through `api.call` on the real control plane and
operator: DeleteCluster, UpdateContainerInstancesState, ListTaskDefinitionFamilies,
DeleteTaskDefinitions, StartTask, the tag actions (and tags/include on the others), RunTask's
clientToken, and the List actions' paging limits."""

from __future__ import annotations

from typing import Any

import pytest

from ecs_operator.api import EcsError, Session, call
from ecs_operator.api.tasks import client_token_name
from tests.helpers import refused, wait_for, web_session

pytestmark = pytest.mark.controlplane

CONTAINER = {"name": "web", "image": "nginx:1.27", "cpu": 64, "memory": 32}
ARN = "arn:aws:ecs:us-east-1:000000000000"


@pytest.fixture
def nodes(kube, namespace, operator_process, node_group) -> list[str]:
    return node_group(cluster="main", count=2)


@pytest.fixture
def session(kube, namespace, nodes) -> Session:
    """Cluster `main` (two nodes), family `web` at revision 2 with revision 1 INACTIVE."""
    return web_session(kube.kubeconfig, namespace)


def instances(session: Session, cluster: str = "main") -> dict[str, dict[str, Any]]:
    """ec2InstanceId (node name) → container instance, once the operator reports them."""
    arns = call(session, "ListContainerInstances", {"cluster": cluster})["containerInstanceArns"]
    if not arns:
        return {}
    described = call(session, "DescribeContainerInstances", {"cluster": cluster, "containerInstances": arns})
    return {i["ec2InstanceId"]: i for i in described["containerInstances"]}


def task(session: Session, arn: str, cluster: str = "main") -> dict[str, Any]:
    return call(session, "DescribeTasks", {"cluster": cluster, "tasks": [arn], "include": ["TAGS"]})["tasks"][0]


# --------------------------------------------------------------------------- DeleteCluster


def test_delete_cluster_is_refused_while_services_or_tasks_are_active(session, node_group):
    node_group(cluster="other", count=1)
    call(session, "CreateCluster", {"clusterName": "other", "tags": [{"key": "team", "value": "a"}]})
    call(session, "CreateService", {"cluster": "other", "serviceName": "api", "taskDefinition": "web",
                                    "desiredCount": 0})
    assert refused(session, "DeleteCluster", {"cluster": "other"}) == (
        "ClusterContainsServicesException", "The Cluster cannot be deleted while Services are active.")
    call(session, "DeleteService", {"cluster": "other", "service": "api"})
    wait_for(lambda: [s["status"] for s in call(session, "DescribeServices", {"cluster": "other", "services": ["api"]})
                      ["services"]] in ([], ["INACTIVE"]), what="the service INACTIVE")
    started = call(session, "RunTask", {"cluster": "other", "taskDefinition": "web"})["tasks"][0]
    assert refused(session, "DeleteCluster", {"cluster": f"{ARN}:cluster/other"}) == (
        "ClusterContainsTasksException", "The Cluster cannot be deleted while Tasks are active.")
    call(session, "StopTask", {"cluster": "other", "task": started["taskArn"]})
    wait_for(lambda: [t["lastStatus"] for t in call(session, "DescribeTasks", {"cluster": "other", "tasks": [
        started["taskArn"]]})["tasks"]] in ([], ["STOPPED"]), what="the task STOPPED")

    deleted = call(session, "DeleteCluster", {"cluster": "other"})["cluster"]
    assert (deleted["clusterName"], deleted["status"], deleted["clusterArn"]) == (
        "other", "INACTIVE", f"{ARN}:cluster/other")
    wait_for(lambda: call(session, "DescribeClusters", {"clusters": ["other"]})["failures"] == [
        {"arn": "other", "reason": "MISSING"}], what="the cluster gone")
    assert refused(session, "ListTagsForResource", {"resourceArn": f"{ARN}:cluster/other"}) == (
        "InvalidParameterException", "The specified cluster is inactive. Specify an active cluster and try again.")
    assert refused(session, "DeleteCluster", {"cluster": "other"}) == ("ClusterNotFoundException", "Cluster not found.")


# --------------------------------------------------------------------------- UpdateContainerInstancesState


def test_draining_an_instance_moves_the_service_tasks_off_it_and_active_brings_it_back(session, nodes):
    first, second = nodes
    ids = wait_for(lambda: (found := instances(session)) and len(found) == 2 and found, what="two instances")
    call(session, "CreateService", {"cluster": "main", "serviceName": "api", "taskDefinition": "web",
                                    "desiredCount": 2})

    def running_on() -> list[str] | None:
        arns = call(session, "ListTasks", {"cluster": "main", "serviceName": "api"})["taskArns"]
        tasks = call(session, "DescribeTasks", {"cluster": "main", "tasks": arns})["tasks"] if arns else []
        on = sorted(t.get("containerInstanceArn", "") for t in tasks if t["lastStatus"] == "RUNNING")
        return on if len(on) == 2 else None

    wait_for(running_on, what="two service tasks running")
    answer = call(session, "UpdateContainerInstancesState", {
        "cluster": "main", "status": "DRAINING",
        "containerInstances": [ids[first]["containerInstanceArn"], "i-unknown"]})
    assert [(i["ec2InstanceId"], i["status"]) for i in answer["containerInstances"]] == [(first, "DRAINING")]
    assert answer["failures"] == [{"arn": "i-unknown", "reason": "MISSING"}]
    assert session.get("ecsclusters", "main")["spec"]["drainingInstances"] == [first]
    wait_for(lambda: call(session, "ListContainerInstances", {"cluster": "main", "status": "DRAINING"})
             ["containerInstanceArns"] == [ids[first]["containerInstanceArn"]], what="the instance DRAINING")
    other = ids[second]["containerInstanceArn"]
    wait_for(lambda: running_on() == [other, other], timeout=90, what="both service tasks on the other instance")

    answer = call(session, "UpdateContainerInstancesState", {"cluster": "main", "status": "ACTIVE",
                                                             "containerInstances": [first]})
    assert [i["status"] for i in answer["containerInstances"]] == ["ACTIVE"]
    assert "drainingInstances" not in session.get("ecsclusters", "main")["spec"]
    wait_for(lambda: instances(session)[first]["status"] == "ACTIVE", what="the instance ACTIVE again")
    assert refused(session, "UpdateContainerInstancesState", {"cluster": "main", "status": "REGISTERING",
                                                               "containerInstances": [first]})[0] == (
        "InvalidParameterException")


# --------------------------------------------------------------------------- task definition families, deletion


def test_list_task_definition_families_and_delete_task_definitions(session):
    call(session, "RegisterTaskDefinition", {"family": "old", "containerDefinitions": [CONTAINER]})
    call(session, "DeregisterTaskDefinition", {"taskDefinition": "old:1"})

    def families(**request: Any) -> list[str]:
        return call(session, "ListTaskDefinitionFamilies", request)["families"]

    assert families() == families(status="ALL") == ["old", "web"]
    assert (families(status="ACTIVE"), families(status="INACTIVE"), families(familyPrefix="w")) == (
        ["web"], ["old"], ["web"])
    first = call(session, "ListTaskDefinitionFamilies", {"maxResults": 1})
    assert first["families"] == ["old"]
    assert call(session, "ListTaskDefinitionFamilies", {"maxResults": 1, "nextToken": first["nextToken"]}) == {
        "families": ["web"]}

    answer = call(session, "DeleteTaskDefinitions", {"taskDefinitions": [
        "web:1", f"{ARN}:task-definition/web:2", "nope:1", "web"]})
    assert [(d["family"], d["revision"], d["status"]) for d in answer["taskDefinitions"]] == [
        ("web", 1, "DELETE_IN_PROGRESS")]
    assert answer["taskDefinitions"][0]["deleteRequestedAt"] is not None
    assert answer["failures"] == [
        {"arn": f"{ARN}:task-definition/web:2", "reason": "The specified task definition is still in ACTIVE "
                                                          "status. Please deregister the target and try again."},
        {"arn": "nope:1", "reason": "The specified task definition does not exist. Specify a valid account, "
                                    "family, revision and try again."},
        {"arn": "web", "reason": "The specified task definition identifier is invalid. Specify a valid name or ARN "
                                 "and try again."},
    ]
    assert call(session, "DescribeTaskDefinition", {"taskDefinition": "web:1"})["taskDefinition"]["status"] == (
        "DELETE_IN_PROGRESS")
    assert call(session, "ListTaskDefinitions", {"status": "INACTIVE"})["taskDefinitionArns"] == [
        f"{ARN}:task-definition/old:1"]
    assert refused(session, "RunTask", {"cluster": "main", "taskDefinition": "web:1"}) == (
        "ClientException", "TaskDefinition is inactive")
    # a family whose revisions are all deleted is listed no more
    call(session, "DeleteTaskDefinitions", {"taskDefinitions": ["old:1"]})
    assert families() == ["web"]


# --------------------------------------------------------------------------- StartTask


def test_start_task_runs_one_task_on_each_instance_named(session, nodes):
    ids = wait_for(lambda: (found := instances(session)) and len(found) == 2 and found, what="two instances")
    answer = call(session, "StartTask", {"cluster": "main", "taskDefinition": "web", "startedBy": "me",
                                         "containerInstances": [ids[nodes[1]]["containerInstanceArn"], "nope"],
                                         "tags": [{"key": "k", "value": "v"}]})
    assert answer["failures"] == [{"arn": "nope", "reason": "MISSING"}]
    [started] = answer["tasks"]
    assert started["taskDefinitionArn"] == f"{ARN}:task-definition/web:2" and started["startedBy"] == "me"
    running = wait_for(lambda: (t := task(session, started["taskArn"]))["lastStatus"] == "RUNNING" and t,
                       what="the started task RUNNING")
    assert running["containerInstanceArn"] == ids[nodes[1]]["containerInstanceArn"]
    assert running["tags"] == [{"key": "k", "value": "v"}]
    assert refused(session, "StartTask", {"cluster": "main", "taskDefinition": "web",
                                          "containerInstances": ["a"] * 11}) == (
        "InvalidParameterException", "containerInstances can have at most 10 items.")


# --------------------------------------------------------------------------- tags


def test_tags_of_clusters_task_definitions_tasks_and_services(session):
    cluster_arn = f"{ARN}:cluster/main"
    created = call(session, "CreateCluster", {"clusterName": "main", "tags": [{"key": "env", "value": "dev"}]})
    assert created["cluster"]["tags"] == [{"key": "env", "value": "dev"}]
    described = call(session, "DescribeClusters", {"clusters": [cluster_arn],
                                                   "include": ["TAGS", "CONFIGURATIONS", "SETTINGS"]})["clusters"][0]
    assert described["tags"] == [{"key": "env", "value": "dev"}]
    assert described["settings"] == [{"name": "containerInsights", "value": "disabled"}]
    assert call(session, "DescribeClusters", {"clusters": ["main"]})["clusters"][0]["tags"] == []
    call(session, "TagResource", {"resourceArn": cluster_arn, "tags": [{"key": "env", "value": "prod"},
                                                                       {"key": "team", "value": "x"}]})
    call(session, "UntagResource", {"resourceArn": cluster_arn, "tagKeys": ["team", "absent"]})
    assert call(session, "ListTagsForResource", {"resourceArn": cluster_arn}) == {
        "tags": [{"key": "env", "value": "prod"}]}

    registered = call(session, "RegisterTaskDefinition", {"family": "tagged", "containerDefinitions": [CONTAINER],
                                                          "tags": [{"key": "a", "value": "1"}]})
    assert registered["tags"] == [{"key": "a", "value": "1"}]
    assert "tags" not in registered["taskDefinition"]
    td_arn = registered["taskDefinition"]["taskDefinitionArn"]
    call(session, "TagResource", {"resourceArn": td_arn, "tags": [{"key": "b", "value": "2"}]})
    assert call(session, "DescribeTaskDefinition", {"taskDefinition": "tagged:1", "include": ["TAGS"]})["tags"] == [
        {"key": "a", "value": "1"}, {"key": "b", "value": "2"}]
    assert call(session, "DescribeTaskDefinition", {"taskDefinition": "tagged:1"})["tags"] == []

    started = call(session, "RunTask", {"cluster": "main", "taskDefinition": "web", "count": 2,
                                        "tags": [{"key": "job", "value": "j"}]})["tasks"]
    assert [t["tags"] for t in started] == [[{"key": "job", "value": "j"}]] * 2
    call(session, "UntagResource", {"resourceArn": started[0]["taskArn"], "tagKeys": ["job"]})
    assert [task(session, t["taskArn"])["tags"] for t in started] == [[], [{"key": "job", "value": "j"}]]
    assert "tags" not in call(session, "DescribeTasks", {"cluster": "main", "tasks": [started[1]["taskArn"]]})[
        "tasks"][0]

    call(session, "CreateService", {"cluster": "main", "serviceName": "api", "taskDefinition": "web",
                                    "desiredCount": 0, "tags": [{"key": "s", "value": "1"}]})
    service_arn = f"{ARN}:service/main/api"
    call(session, "TagResource", {"resourceArn": service_arn, "tags": [{"key": "t", "value": "2"}]})
    assert call(session, "DescribeServices", {"cluster": "main", "services": ["api"], "include": ["TAGS"]})[
        "services"][0]["tags"] == [{"key": "s", "value": "1"}, {"key": "t", "value": "2"}]
    assert call(session, "ListTagsForResource", {"resourceArn": service_arn})["tags"] == [
        {"key": "s", "value": "1"}, {"key": "t", "value": "2"}]

    for arn, error in [
        ("arn:aws:ecr:us-east-1:000000000000:repository/x", "The ARN provided is invalid."),
        ("nonsense", "The ARN provided is invalid."),
        (f"{ARN}:service/api", "Long arn format must be used for tagging operations"),
        (f"{ARN}:task/main/0123456789abcdef0123456789abcdef", "The referenced task was not found."),
        (f"{ARN}:task-definition/web:9", "The specified task definition does not exist. Specify a valid account, "
                                         "family, revision and try again."),
    ]:
        assert refused(session, "ListTagsForResource", {"resourceArn": arn}) == ("InvalidParameterException", error)
    assert refused(session, "TagResource", {"resourceArn": cluster_arn, "tags": [{"key": "aws:x", "value": "1"}]})[
        0] == "InvalidParameterException"
    assert refused(session, "TagResource", {"resourceArn": f"{ARN}:service/nope/api", "tags": []}) == (
        "ClusterNotFoundException", "Cluster not found.")


# --------------------------------------------------------------------------- RunTask's clientToken


def test_run_task_with_a_client_token_starts_its_tasks_once(session):
    request = {"cluster": "main", "taskDefinition": "web", "count": 2, "clientToken": "token-1"}
    first = call(session, "RunTask", request)["tasks"]
    again = call(session, "RunTask", {**request, "cluster": f"{ARN}:cluster/main"})["tasks"]
    assert [t["taskArn"] for t in again] == [t["taskArn"] for t in first] and len(first) == 2
    base = client_token_name("token-1")  # one ECSTask per task: each stops on its own
    assert sorted(o["metadata"]["name"] for o in session.list("ecstasks")) == [f"{base}-0", f"{base}-1"]
    with pytest.raises(EcsError) as raised:
        call(session, "RunTask", {**request, "count": 1})
    assert (raised.value.code, raised.value.message) == (
        "ConflictException", "The provided clientToken is already in use with a different RunTask request.")
    assert raised.value.fields == {"resourceIds": [t["taskArn"] for t in first]}
    assert len(session.list("ecstasks")) == 2
    assert refused(session, "RunTask", {**request, "clientToken": "x" * 65})[0] == "InvalidParameterException"


# --------------------------------------------------------------------------- paging limits


@pytest.mark.parametrize(("action", "request_", "message"), [
    ("ListClusters", {"maxResults": 0}, "maxResults must be between 1 and 100."),
    ("ListServices", {"cluster": "main", "maxResults": 101}, "maxResults must be between 1 and 100."),
    ("ListTasks", {"cluster": "main", "maxResults": "10"}, "maxResults must be between 1 and 100."),
    ("ListTaskDefinitions", {"nextToken": "not-a-token"}, "Invalid nextToken."),
    ("ListTaskDefinitionFamilies", {"maxResults": 1000}, "maxResults must be between 1 and 100."),
    ("ListContainerInstances", {"cluster": "main", "nextToken": "bm9wZQ=="}, "Invalid nextToken."),
])
def test_list_paging_parameters_out_of_range_are_invalid_parameters(session, action, request_, message):
    assert refused(session, action, request_) == ("InvalidParameterException", message)


def test_list_services_pages_10_by_default(session):
    for n in range(11):
        call(session, "CreateService", {"cluster": "main", "serviceName": f"s{n:02}", "taskDefinition": "web",
                                        "desiredCount": 0})
    first = call(session, "ListServices", {"cluster": "main"})
    assert len(first["serviceArns"]) == 10 and first["nextToken"]
    rest = call(session, "ListServices", {"cluster": "main", "nextToken": first["nextToken"]})
    assert rest == {"serviceArns": [f"{ARN}:service/main/s10"]}


# --------------------------------------------------------------------------- service deployments


def test_service_deployments_follow_the_service_s_deployments(session):
    call(session, "CreateService", {"cluster": "main", "serviceName": "api", "taskDefinition": "web",
                                    "desiredCount": 1})

    def primary() -> dict[str, Any]:
        return call(session, "DescribeServices", {"cluster": "main", "services": ["api"]})["services"][0][
            "deployments"][0]

    first = wait_for(lambda: (d := primary())["rolloutState"] == "COMPLETED" and d, what="the deployment COMPLETED")
    digits = first["id"].split("/")[1]
    listed = call(session, "ListServiceDeployments", {"cluster": "main", "service": "api"})["serviceDeployments"]
    assert [(d["status"], d["targetServiceRevisionArn"]) for d in listed] == [
        ("SUCCESSFUL", f"{ARN}:service-revision/main/api/{digits}")]
    arn = listed[0]["serviceDeploymentArn"]
    assert arn == f"{ARN}:service-deployment/main/api/{digits}"
    described = call(session, "DescribeServiceDeployments", {"serviceDeploymentArns": [arn, arn + "0"]})
    assert [d["status"] for d in described["serviceDeployments"]] == ["SUCCESSFUL"]
    assert described["serviceDeployments"][0]["targetServiceRevision"]["requestedTaskCount"] == 1
    assert described["failures"] == [{"arn": arn + "0", "reason": "MISSING"}]

    call(session, "UpdateService", {"cluster": "main", "service": "api", "forceNewDeployment": True})
    second = wait_for(lambda: (d := primary())["id"] != first["id"] and d, what="a new deployment")
    later = call(session, "ListServiceDeployments", {"cluster": "main", "service": "api",
                                                     "createdAt": {"after": first["createdAt"]}})
    assert later["serviceDeployments"][0]["serviceDeploymentArn"].endswith(second["id"].split("/")[1])
    assert all(d["status"] == "IN_PROGRESS" for d in call(session, "ListServiceDeployments", {
        "cluster": "main", "service": "api", "status": ["IN_PROGRESS"]})["serviceDeployments"])
    assert refused(session, "ListServiceDeployments", {"cluster": "main", "service": "nope"}) == (
        "ServiceNotFoundException", "Service not found.")
