"""The API layer's pure helpers for tags and RunTask's clientToken."""

from __future__ import annotations

import json

import pytest

from ecs_operator.api import EcsError, tagging
from ecs_operator.api.shapes import task_definition_shape
from ecs_operator.api.task_definitions import revisions_of
from ecs_operator.api.tasks import client_token_name, request_digest
from ecs_operator.ecs.labels import DELETED_REVISIONS_ANNOTATION, TAGS_ANNOTATION

REGISTERED = "2026-01-01T00:00:00Z"


def test_tags_are_checked_as_ecs_checks_them():
    assert tagging.checked([{"key": "a", "value": "1"}, {"key": "b"}, {"key": "a", "value": "2"}]) == [
        {"key": "a", "value": "2"}, {"key": "b", "value": ""}]
    assert tagging.checked(None) == []
    for bad in ([{"key": ""}], [{"key": "AWS:x", "value": "1"}], [{"key": "k", "value": "aws:v"}],
                [{"key": "k" * 129}], [{"value": "v"}], "k=v"):
        with pytest.raises(EcsError) as raised:
            tagging.checked(bad)
        assert raised.value.code == "InvalidParameterException"


def test_tag_resource_merges_and_counts_50_without_aws_tags():
    current = [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}]
    assert tagging.merged(current, [{"key": "b", "value": "3"}, {"key": "c", "value": ""}]) == [
        {"key": "a", "value": "1"}, {"key": "b", "value": "3"}, {"key": "c", "value": ""}]
    fifty = [{"key": f"k{n}", "value": ""} for n in range(50)]
    assert len(tagging.merged(fifty, [{"key": "aws:cloudformation:stack", "value": "s"}])) == 51
    with pytest.raises(EcsError):
        tagging.merged(fifty, [{"key": "one-more", "value": ""}])
    assert tagging.without(current, ["a", "absent"]) == [{"key": "b", "value": "2"}]


def test_tags_are_kept_by_member_in_one_annotation():
    obj = {"metadata": {"annotations": {TAGS_ANNOTATION: json.dumps({"3": [{"key": "a", "value": "1"}]})}}}
    assert tagging.tags_of(obj, 3) == [{"key": "a", "value": "1"}] and tagging.tags_of(obj, 1) == []
    assert tagging.patch_for(obj, 3, [{"key": "a", "value": "1"}]) is None
    patch = tagging.patch_for(obj, "", [{"key": "c", "value": "x"}])
    assert json.loads(patch["metadata"]["annotations"][TAGS_ANNOTATION]) == {
        "": [{"key": "c", "value": "x"}], "3": [{"key": "a", "value": "1"}]}
    assert tagging.tags_of({"metadata": {"annotations": {TAGS_ANNOTATION: "not json"}}}) == []


def test_a_client_token_names_one_ecstask_and_a_retry_must_repeat_the_request():
    assert client_token_name("abc") == client_token_name("abc") != client_token_name("abd")
    assert len(client_token_name("x" * 64)) <= 63
    request = {"taskDefinition": "web", "clientToken": "abc"}
    same = request_digest(request, "main")
    assert request_digest({**request, "count": 1, "clientToken": "other"}, "main") == same
    assert request_digest({**request, "taskDefinition": "arn:aws:ecs:us-east-1:000000000000:task-definition/web"},
                          "main") == same
    assert request_digest({**request, "count": 2}, "main") != same
    assert request_digest(request, "other") != same


def test_deleted_revisions_read_delete_in_progress():
    resource = {"metadata": {"name": "web", "namespace": "ns", "annotations": {
        DELETED_REVISIONS_ANNOTATION: json.dumps({"1": "2026-01-02T03:04:05Z"})}},
        "status": {"revisions": [
            {"revision": 1, "status": "INACTIVE", "taskDefinitionArn": "arn:x:1", "registeredAt": REGISTERED},
            {"revision": 2, "status": "ACTIVE", "taskDefinitionArn": "arn:x:2", "registeredAt": REGISTERED},
        ]}}
    first, second = revisions_of(resource)
    assert (first["status"], second["status"]) == ("DELETE_IN_PROGRESS", "ACTIVE")
    shape = task_definition_shape(resource, first, {"family": "web", "containerDefinitions": []})
    assert shape["status"] == "DELETE_IN_PROGRESS"
    assert shape["deleteRequestedAt"].isoformat() == "2026-01-02T03:04:05+00:00"
    assert shape["deregisteredAt"] is not None
