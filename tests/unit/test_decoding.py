"""Watch events decoded into only what the caches keep (controller/decoding.py): what is kept is
what the standard library's decoding kept, on events captured from the control plane."""

from __future__ import annotations

import json
from pathlib import Path

from ecs_operator.controller import caches, decoding

DATA = Path(__file__).resolve().parents[2] / "bench" / "data"


def test_a_pod_event_keeps_what_the_full_decoding_kept():
    line = (DATA / "pod-watch-event.json").read_bytes()
    full, schema = json.loads(line), decoding.decoder("pods")(line)
    assert "managedFields" not in schema["object"]["metadata"]
    assert json.loads(caches.keep_pod(schema["object"]).packed) == json.loads(caches.keep_pod(full["object"]).packed)
    assert caches.keep_pod(schema["object"])[1:] == caches.keep_pod(full["object"])[1:]  # task, cluster, usage…


def test_an_ecstask_event_keeps_spec_and_status_whole():
    line = (DATA / "ecstask-watch-event.json").read_bytes()
    full, schema = json.loads(line), decoding.decoder("custom")(line)
    assert schema["object"]["spec"] == full["object"]["spec"]
    assert schema["object"]["status"] == full["object"]["status"]
    assert caches.keep_task(schema["object"]) == caches.keep_task(full["object"])


def test_errors_and_bookmarks_keep_what_the_watch_reads():
    gone = b'{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","code":410,' \
           b'"reason":"Expired","message":"too old resource version"}}'
    assert decoding.decoder("pods")(gone)["object"]["code"] == 410
    bookmark = b'{"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"12345",' \
               b'"annotations":{"k8s.io/initial-events-end":"true"}}}}'
    assert decoding.decoder("pods")(bookmark)["object"]["metadata"]["resourceVersion"] == "12345"


def test_a_member_of_an_unexpected_type_falls_back_to_decoding_everything():
    odd = b'{"type":"ADDED","object":{"metadata":{"name":"p","labels":{"a":1}},"spec":{}}}'
    assert decoding.decoder("pods")(odd)["object"]["metadata"]["labels"] == {"a": 1}


def test_packed_text_round_trips():
    trimmed = {"metadata": {"name": "t"}, "status": {"tasks": [{"lastStatus": "RUNNING"}]}}
    assert decoding.unpack(decoding.pack(trimmed)) == trimmed
    assert isinstance(decoding.pack(trimmed), str)
