"""ECS's awsJson1.1 protocol: requests checked against botocore's ECS model, answers and errors
encoded as the SDKs decode them (../shared/ECS-WIRE.md §1-2).

botocore's model is the source of truth for operation names and member types. Its own
`ParamValidator` is not used: it checks Python values (datetimes, bytes), names Python types in its
messages, and refuses unknown members, which ECS must ignore (newer clients send members older
servers do not know). The walk below does what the wire needs in one pass: drop unknown members,
check JSON types, turn epoch timestamps into datetimes.
"""

from __future__ import annotations

import datetime
import functools
import json
from typing import Any

from ...api.errors import EcsError

TARGET_PREFIX = "AmazonEC2ContainerServiceV20141113"
CONTENT_TYPE = "application/x-amz-json-1.1"
MAX_BODY_BYTES = 1024 * 1024

_JSON_TYPES = {"string": "a string", "integer": "an integer", "long": "an integer", "boolean": "a boolean",
               "double": "a number", "float": "a number", "timestamp": "a timestamp (epoch seconds)",
               "structure": "an object", "list": "a list", "map": "an object", "blob": "a base64 string"}


@functools.cache
def service_model() -> Any:
    import botocore.session  # loaded once, at the first request (or at start: `operations()`)

    return botocore.session.get_session().get_service_model("ecs")


@functools.cache
def operations() -> frozenset[str]:
    return frozenset(service_model().operation_names)


def operation(target: str | None) -> str:
    """The ECS operation an `X-Amz-Target` names; UnknownOperationException for anything else."""
    prefix, _, name = (target or "").partition(".")
    if not target:
        raise EcsError("UnknownOperationException",
                       f"The request names no operation: send the header X-Amz-Target: {TARGET_PREFIX}.<Operation>.")
    if prefix != TARGET_PREFIX or name not in operations():
        raise EcsError("UnknownOperationException", f"Unknown operation {target!r}: not an operation of Amazon ECS "
                                                    f"(X-Amz-Target: {TARGET_PREFIX}.<Operation>).")
    return name


def decode(action: str, body: bytes) -> dict[str, Any]:
    """The request of `action` from its body: `{}` for an empty one; SerializationException for a body
    that is not a JSON object or a member of the wrong type, InvalidParameterException for a missing
    required member (each naming the member)."""
    if not body.strip():
        value: Any = {}
    else:
        try:
            value = json.loads(body)
        except (ValueError, RecursionError) as err:  # UnicodeDecodeError is a ValueError
            raise EcsError("SerializationException", f"The request body is not valid JSON: {err}.") from None
    if not isinstance(value, dict):
        raise _wrong_type("", "structure", value)
    shape = service_model().operation_model(action).input_shape
    if shape is None:
        return {}
    request: dict[str, Any] = _checked(value, shape, "")
    return request


def _checked(value: Any, shape: Any, path: str) -> Any:
    kind = shape.type_name
    if value is None:
        return None
    if kind == "structure":
        if not isinstance(value, dict):
            raise _wrong_type(path, kind, value)
        members = shape.members
        checked = {name: _checked(member, members[name], _join(path, name))
                   for name, member in value.items() if name in members}
        for name in shape.required_members:
            if checked.get(name) is None:
                raise EcsError("InvalidParameterException",
                               f"{_join(path, name)} is required: the request must include it.")
        return {name: v for name, v in checked.items() if v is not None}
    if kind == "list":
        if not isinstance(value, list):
            raise _wrong_type(path, kind, value)
        return [_checked(item, shape.member, f"{path}[{i}]") for i, item in enumerate(value)]
    if kind == "map":
        if not isinstance(value, dict):
            raise _wrong_type(path, kind, value)
        return {k: _checked(v, shape.value, f"{path}.{k}") for k, v in value.items()}
    if kind in ("string", "blob"):
        if not isinstance(value, str):
            raise _wrong_type(path, kind, value)
        return value
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _wrong_type(path, kind, value)
        return value
    if kind in ("double", "float"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _wrong_type(path, kind, value)
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise _wrong_type(path, kind, value)
        return value
    if kind == "timestamp":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _wrong_type(path, kind, value)
        try:
            return datetime.datetime.fromtimestamp(value, datetime.UTC)
        except (OverflowError, OSError, ValueError):
            raise EcsError("SerializationException", f"{path}: {value} is not a valid timestamp.") from None
    return value


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _wrong_type(path: str, kind: str, value: Any) -> EcsError:
    got = {type(None): "null", dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
           float: "a number"}.get(type(value), type(value).__name__)
    where = path or "the request body"
    return EcsError("SerializationException", f"{where} must be {_JSON_TYPES.get(kind, kind)}, not {got}.")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        # epoch seconds as a JSON number: what ECS sends, and the only form JS and Go decode
        return round(value.timestamp(), 3)
    raise TypeError(f"{type(value).__name__} is not JSON")


def encode(answer: dict[str, Any]) -> bytes:
    return json.dumps(answer, default=_json_default, separators=(",", ":")).encode()


def error_body(error: EcsError) -> bytes:
    # the exception shape's other members too (ConflictException's resourceIds)
    return json.dumps({"__type": error.code, "message": error.message, **error.fields}, default=_json_default,
                      separators=(",", ":")).encode()
