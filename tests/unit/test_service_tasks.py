"""How the service reconciler sees its tasks (controller/services.py's pure parts): a cached
ECSTask as the scheduler's TaskView, task names, deployment ids and records."""

from __future__ import annotations

import json
import re

from ecs_operator.controller.services import (
    deployment_from_record,
    deployment_record,
    new_deployment_id,
    task_name,
    task_view,
)
from ecs_operator.ecs.scheduler import Deployment

UID = "6f1c3f4e-8a0e-4d55-9a8e-0c1d2e3f4a5b"


def packed(status: dict, **spec: object) -> str:
    return json.dumps({"metadata": {"name": "agent-abc123-0", "namespace": "ns", "uid": UID,
                                    "creationTimestamp": "2026-12-03T00:00:00Z"},
                       "spec": {"startedBy": "ecs-svc/1", "desiredStatus": "RUNNING", **spec}, "status": status})


def test_a_daemon_task_not_placed_yet_is_on_the_instance_it_is_pinned_to():
    pinned = [{"type": "memberOf", "expression": "attribute:ecs.os-type == linux"},
              {"type": "memberOf", "expression": "ec2InstanceId == node-7"}]
    assert task_view(packed({}, placementConstraints=pinned)).node == "node-7"
    placed = {"tasks": [{"taskArn": "arn:…/" + "a" * 32, "lastStatus": "PENDING", "nodeName": "node-7"}]}
    assert task_view(packed(placed)).node == "node-7"
    assert task_view(packed({})).node is None  # a REPLICA task: wherever the scheduler puts it


def test_a_task_view_reads_the_record():
    status = {"tasks": [{"taskArn": "arn:aws:ecs:us-east-1:0:task/c/" + "b" * 32, "lastStatus": "STOPPED",
                         "createdAt": "2026-12-03T00:00:00Z", "stoppedAt": "2026-12-03T00:00:09Z",
                         "stoppedReason": "Essential container in task exited",
                         "containers": [{"name": "web", "healthStatus": "UNHEALTHY"}]}]}
    view = task_view(packed(status))
    assert (view.task_id, view.last_status, view.started_at, view.failed_to_start) == ("b" * 32, "STOPPED", None,
                                                                                       True)
    assert view.health == "UNHEALTHY" and view.stopped_at is not None and view.deployment == "ecs-svc/1"
    refused = task_view(packed({"lastStatus": "STOPPED", "stoppedReason": "TaskRefused"}))
    assert refused.last_status == "STOPPED" and refused.failed_to_start


def test_task_names_fit_a_pod_name_and_deployment_ids_have_19_digits():
    assert re.fullmatch(r"web-[0-9a-f]{6}-3", task_name("web", "ecs-svc/1234567890123456789", 3))
    long = task_name("s" * 253, "ecs-svc/1234567890123456789", 99999)
    assert len(long) <= 56 and long != task_name("s" * 252 + "t", "ecs-svc/1234567890123456789", 99999)
    assert all(re.fullmatch(r"ecs-svc/[1-9][0-9]{18}", new_deployment_id()) for _ in range(100))


def test_a_deployment_round_trips_through_its_status_record():
    deployment = Deployment("ecs-svc/1234567890123456789", "PRIMARY", "arn:td/web:2",
                            {"family": "web", "revision": 2, "configMap": "web-r2"}, "web", "tok", 1796000000.0,
                            1796000005.0, "IN_PROGRESS", "ECS deployment ecs-svc/1234567890123456789 in progress.",
                            True, 3, 2, 1, 1, {"t-1": 1796000003.0}, 1796000002.0)
    assert deployment_from_record(json.loads(json.dumps(deployment_record(deployment)))) == deployment
