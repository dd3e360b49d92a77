"""The ECS API layer's actions through the real control plane and operator: requests and answers
in ECS's wire shape, paging, datetimes, ECS's errors. (`kubectl ecs` is tested on top of it in
test_plugin_verbs.py.)"""

from __future__ import annotations

import datetime
import uuid

import pytest

from ecs_operator.api import EcsError, Session, call
from tests.helpers import wait_for

pytestmark = pytest.mark.controlplane

CONTAINER = {"name": "web", "image": "nginx:1.27", "cpu": 64, "memory": 32}


@pytest.fixture
def session(kube, namespace, operator_process) -> Session:
    return Session.from_kubeconfig(str(kube.kubeconfig), namespace=namespace)


def test_run_list_in_pages_describe_and_stop(session, node_group):
    cluster = f"a{uuid.uuid4().hex[:8]}"
    node_group(cluster=cluster, count=2)
    created = call(session, "CreateCluster", {"clusterName": cluster})["cluster"]
    assert created["clusterName"] == cluster
    td = call(session, "RegisterTaskDefinition", {"family": "pager", "containerDefinitions": [CONTAINER]})
    assert td["taskDefinition"]["revision"] == 1
    assert isinstance(td["taskDefinition"]["registeredAt"], datetime.datetime)

    run = call(session, "RunTask", {"cluster": cluster, "taskDefinition": "pager", "count": 5, "startedBy": "api"})
    assert run["failures"] == [] and len(run["tasks"]) == 5
    arns = [t["taskArn"] for t in run["tasks"]]
    assert all(isinstance(t["createdAt"], datetime.datetime) for t in run["tasks"])

    pages, tokens = [], []
    answer = call(session, "ListTasks", {"cluster": cluster, "maxResults": 2})
    pages.append(answer["taskArns"])
    while "nextToken" in answer:
        tokens.append(answer["nextToken"])
        answer = call(session, "ListTasks", {"cluster": cluster, "maxResults": 2, "nextToken": answer["nextToken"]})
        pages.append(answer["taskArns"])
    assert [len(p) for p in pages] == [2, 2, 1] and len(set(tokens)) == 2
    assert sorted(a for p in pages for a in p) == sorted(arns)
    assert call(session, "ListTasks", {"cluster": cluster, "startedBy": "nobody"}) == {"taskArns": []}

    described = wait_for(lambda: (d := call(session, "DescribeTasks", {"cluster": cluster, "tasks": arns}))
                         and all(t["lastStatus"] == "RUNNING" for t in d["tasks"]) and d, what="5 RUNNING")
    assert described["failures"] == []
    assert all(isinstance(t["startedAt"], datetime.datetime) for t in described["tasks"])

    # one of five started together stops alone, as in ECS
    assert call(session, "StopTask", {"cluster": cluster, "task": arns[0]})["task"]["desiredStatus"] == "STOPPED"
    after = call(session, "DescribeTasks", {"cluster": cluster, "tasks": arns})["tasks"]
    assert [t["desiredStatus"] for t in after] == ["STOPPED"] + ["RUNNING"] * 4


def test_errors_and_failures_are_ecs_s(session):
    with pytest.raises(EcsError) as raised:
        call(session, "RunTask", {"cluster": "nowhere", "taskDefinition": "x"})
    assert (raised.value.code, raised.value.message) == ("ClusterNotFoundException", "Cluster not found.")
    with pytest.raises(EcsError) as raised:
        call(session, "DescribeTaskDefinition", {"taskDefinition": "nothing:4"})
    assert (raised.value.code, raised.value.message) == ("ClientException", "Unable to describe task definition.")
    with pytest.raises(EcsError) as raised:
        call(session, "RegisterTaskDefinition", {"family": "bad", "containerDefinitions": [{"name": "a"}]})
    assert raised.value.code == "ClientException" and "containerDefinitions[0]" in raised.value.message
    assert call(session, "DescribeClusters", {"clusters": ["nope"]}) == {
        "clusters": [], "failures": [{"arn": "nope", "reason": "MISSING"}]}
    with pytest.raises(EcsError) as raised:
        call(session, "ListClusters", {"nextToken": "garbage"})
    assert raised.value.code == "InvalidParameterException"
