"""Watch events decoded into only what the caches keep, and the kept objects packed and unpacked.

Decoding watch events was the operator's largest cost (half its CPU per task, `make bench`):
every Pod event is about 7 KB, a third of it managedFields, most of the rest spec fields the
reconcilers never read, and the standard library's `json` builds all of it. msgspec decodes an
event against a schema (TypedDicts, so the result is the same plain dicts and lists as before)
and skips, while parsing, every member the schema does not name. bench/decode.py measures the
three ways on captured events: the standard library, orjson (fast, but builds everything), and
msgspec with a schema.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypedDict

import msgspec


class _OwnerReference(TypedDict, total=False):
    apiVersion: str
    kind: str
    name: str
    uid: str
    controller: bool


class _Metadata(TypedDict, total=False):
    name: str
    namespace: str
    uid: str
    generation: int
    resourceVersion: str
    creationTimestamp: str
    deletionTimestamp: str
    labels: dict[str, str]
    annotations: dict[str, str]
    ownerReferences: list[_OwnerReference]
    finalizers: list[str]


class _Container(TypedDict, total=False):
    name: str
    image: str
    ports: list[Any]
    resources: dict[str, Any]
    readinessProbe: dict[str, Any]
    startupProbe: dict[str, Any]


class _PodSpec(TypedDict, total=False):
    nodeName: str
    containers: list[_Container]
    initContainers: list[_Container]
    resources: dict[str, Any]
    terminationGracePeriodSeconds: int


class _PodStatus(TypedDict, total=False):
    phase: str
    reason: str
    hostIP: str
    podIP: str
    conditions: list[Any]
    containerStatuses: list[Any]
    initContainerStatuses: list[Any]


class _Pod(TypedDict, total=False):
    kind: str
    apiVersion: str
    metadata: _Metadata
    spec: _PodSpec
    status: _PodStatus
    # an ERROR event's object is a Status: 410 Gone must be seen
    code: int
    reason: str
    message: str


class _PodEvent(TypedDict, total=False):
    type: str
    object: _Pod


class _Custom(TypedDict, total=False):
    """One of our custom resources: everything but managedFields is kept (spec and status whole)."""
    kind: str
    apiVersion: str
    metadata: _Metadata
    spec: dict[str, Any]
    status: dict[str, Any]
    code: int
    reason: str
    message: str


class _CustomEvent(TypedDict, total=False):
    type: str
    object: _Custom


_generic = msgspec.json.Decoder()
_DECODERS: dict[str, msgspec.json.Decoder[Any]] = {
    "pods": msgspec.json.Decoder(_PodEvent),
    "custom": msgspec.json.Decoder(_CustomEvent),
}
_encoder = msgspec.json.Encoder()


def decoder(schema: str | None) -> Callable[[bytes], dict[str, Any]]:
    """A decoder of watch-event lines: "pods" (what the Pod cache keeps), "custom" (our custom
    resources without managedFields), or None (everything, as the standard library would)."""
    typed = _DECODERS[schema] if schema is not None else None

    def decode(line: bytes) -> dict[str, Any]:
        if typed is not None:
            try:
                event: dict[str, Any] = typed.decode(line)
                return event
            except msgspec.ValidationError:  # a member of a type the schema did not expect: decode it all
                pass
        whole: dict[str, Any] = _generic.decode(line)
        return whole

    return decode


def pack(trimmed: Any) -> str:
    """Compact JSON text (str: the caches search it as text)."""
    return _encoder.encode(trimmed).decode()


def unpack(packed: str | bytes) -> Any:
    return _generic.decode(packed)
