"""Fuzz the ECS endpoint: 2,000 signed requests (the signature right, so each one reaches the
protocol and the API layer) with bodies that are garbage, of the wrong types, huge, full of
unknown members, or well typed but random, for every operation of botocore's ECS model and some
that do not exist. Every answer must be a typed 4xx (`__type`), none a 500, and the endpoint alive.
ECS_FUZZ_SEED=<n> replays a run."""

from __future__ import annotations

import datetime
import json
import os
import random
import string
from collections import Counter
from typing import Any

import pytest
import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from ecs_operator import api
from ecs_operator.frontends.endpoint import protocol

pytestmark = pytest.mark.controlplane

REQUESTS = 2000


def random_value(shape: Any, rng: random.Random, depth: int = 0) -> Any:
    """A value of the shape's type (members chosen at random), sometimes at the edges of its range."""
    kind = shape.type_name
    if kind == "structure":
        if depth > 4:
            return {}
        names = list(shape.members)
        chosen = rng.sample(names, k=rng.randint(0, min(len(names), 6)))
        chosen += [n for n in shape.required_members if n not in chosen and rng.random() < 0.9]
        return {name: random_value(shape.members[name], rng, depth + 1) for name in chosen}
    if kind == "list":
        return [random_value(shape.member, rng, depth + 1) for _ in range(rng.choice((0, 1, 2, 3, 120)))]
    if kind == "map":
        return {rand_string(rng): random_value(shape.value, rng, depth + 1) for _ in range(rng.randint(0, 3))}
    if kind == "string":
        enum = shape.enum
        return rng.choice(enum) if enum and rng.random() < 0.7 else rand_string(rng)
    if kind in ("integer", "long"):
        return rng.choice((0, 1, -1, 10, 11, 100, 101, 2**31, -(2**63), rng.randint(-1000, 1000)))
    if kind in ("double", "float"):
        return rng.choice((0.0, -1.5, 1e308, rng.random()))
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "timestamp":
        return rng.choice((0, 1700000000.5, -1, 1e12))
    return rand_string(rng)


def rand_string(rng: random.Random) -> str:
    return rng.choice((
        "", "default", "web:1", "arn:aws:ecs:us-east-1:000000000000:cluster/x", "a" * 300, "../../etc",
        "\u00e9\u4e2d\U0001f600", "task-definition/x:0", "x:-1", "arn:aws:ecs:::", " ", "\x00",
        "".join(rng.choice(string.printable) for _ in range(rng.randint(1, 40)))))


def wrong_types(value: Any, rng: random.Random) -> Any:
    """The same request with some values replaced by values of other JSON types."""
    if isinstance(value, dict):
        return {k: (rng.choice((1, "s", True, None, [], {}, 1.5)) if rng.random() < 0.3 else wrong_types(v, rng))
                for k, v in value.items()}
    if isinstance(value, list):
        return [wrong_types(v, rng) for v in value]
    return value


def body_for(kind: str, shape: Any, rng: random.Random) -> bytes:
    if kind == "garbage":
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 200)))
    if kind == "broken json":
        text = json.dumps(random_value(shape, rng)) if shape is not None else '{"a": 1}'
        return text[: rng.randint(0, max(0, len(text) - 1))].encode()
    if kind == "not an object":
        return json.dumps(rng.choice(([], 1, "x", None, True, [{}]))).encode()
    if kind == "deep":
        return b'{"a":' * 5000 + b"1" + b"}" * 5000
    if kind == "huge":
        return json.dumps({"cluster": "x" * (protocol.MAX_BODY_BYTES + 10)}).encode()
    value = random_value(shape, rng) if shape is not None else {}
    if kind == "wrong types":
        value = wrong_types(value, rng)
    elif kind == "unknown members":
        value = {**value, **{rand_string(rng): rand_string(rng) for _ in range(3)}, "futureMember": {"x": [1]}}
    return json.dumps(value).encode()


def signed_request(url: str, credentials: Any, target: str, body: bytes) -> tuple[dict[str, str], bytes]:
    request = AWSRequest("POST", url + "/", data=body,
                         headers={"Content-Type": protocol.CONTENT_TYPE, "X-Amz-Target": target})
    SigV4Auth(Credentials(credentials.access_key_id, credentials.secret_access_key), "ecs",
              "us-east-1").add_auth(request)
    return dict(request.headers.items()), body


def test_a_thousand_mutated_requests_get_typed_4xx_and_never_a_500(endpoint, ecs_credentials, node_group):
    seed = int(os.environ.get("ECS_FUZZ_SEED") or random.SystemRandom().randrange(2**32))
    print(f"ECS_FUZZ_SEED={seed}")
    rng = random.Random(seed)
    node_group(cluster="default", count=1)
    credentials = ecs_credentials()
    model = protocol.service_model()
    operations = [*sorted(model.operation_names), "NoSuchOperation", "DescribeEverything"]
    served = sorted(api.ACTIONS)
    kinds = ("garbage", "broken json", "not an object", "deep", "huge", "wrong types", "wrong types",
             "unknown members", "unknown members") + ("well typed",) * 6
    pool = urllib3.PoolManager(maxsize=4, retries=False, timeout=urllib3.Timeout(connect=5, read=60))
    statuses: Counter[int] = Counter()
    codes: Counter[str] = Counter()
    faults = []
    started = datetime.datetime.now()
    for i in range(REQUESTS):
        # mostly the operations the endpoint serves (they reach the API layer), the rest of the model too
        operation = rng.choice(served if rng.random() < 0.8 else operations)
        kind = rng.choice(kinds)
        shape = model.operation_model(operation).input_shape if operation in model.operation_names else None
        body = body_for(kind, shape, rng)
        target = f"{protocol.TARGET_PREFIX}.{operation}"
        if rng.random() < 0.03:  # a target that names no ECS operation (header-safe characters only)
            target = "".join(rng.choice(string.ascii_letters + string.digits + "._-#") for _ in range(20))
        headers, body = signed_request(endpoint.url, credentials, target, body)
        answer = pool.request("POST", endpoint.url + "/", body=body, headers=headers)
        statuses[answer.status] += 1
        try:
            error = json.loads(answer.data)
        except ValueError:
            faults.append((i, operation, kind, answer.status, answer.data[:200]))
            continue
        if answer.status == 200:
            continue
        codes[error.get("__type", "?")] += 1
        if answer.status >= 500 or not (400 <= answer.status < 500) or not error.get("__type") \
                or answer.headers.get("Content-Type") != protocol.CONTENT_TYPE:
            faults.append((i, operation, kind, answer.status, error))
    elapsed = (datetime.datetime.now() - started).total_seconds()
    print(f"{REQUESTS} requests in {elapsed:.1f} s: statuses {dict(statuses)}; errors {dict(codes.most_common())}")
    assert endpoint.proc.poll() is None, "the endpoint died"
    assert faults == [], f"ECS_FUZZ_SEED={seed}: {faults[:5]}"
    assert sum(statuses.values()) == REQUESTS and statuses[500] == 0
