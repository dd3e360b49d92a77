"""Thin Kubernetes API helpers for the reconcilers: reads, idempotent creates, status updates."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from .labels import API_GROUP, API_VERSION

_api: client.ApiClient | None = None


def api() -> client.ApiClient:
    global _api
    if _api is None:
        from kubernetes import config

        try:
            config.load_incluster_config()
        except config.ConfigException:
            config.load_kube_config()
        configuration = client.Configuration.get_default_copy()
        # Every thread that calls the API keeps its connection (the task workers, the Event
        # poster, kopf's handler threads): a smaller pool would drop and re-open TLS connections.
        configuration.connection_pool_maxsize = 32
        _api = client.ApiClient(configuration)
        _with_default_timeout(_api)
    return _api


# (connect, read) seconds. The client waits forever by default: a connection that silently stops
# answering (a stalled proxy, a half-open TCP connection) would hold a worker for good.
REQUEST_TIMEOUT = (5.0, float(os.environ.get("ECS_API_READ_TIMEOUT", "30")))


def _with_default_timeout(api_client: client.ApiClient) -> None:
    rest = api_client.rest_client
    request = rest.request

    def request_with_timeout(*args: Any, _request_timeout: Any = None, **kwargs: Any) -> Any:
        return request(*args, _request_timeout=_request_timeout or REQUEST_TIMEOUT, **kwargs)

    rest.request = request_with_timeout


def core() -> client.CoreV1Api:
    return client.CoreV1Api(api())


def custom() -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api())


def to_dict(obj: Any) -> dict[str, Any]:
    """A client model object as the apiserver's JSON (camelCase keys)."""
    result: dict[str, Any] = api().sanitize_for_serialization(obj)
    return result


def get_custom(plural: str, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        result: dict[str, Any] = custom().get_namespaced_custom_object(API_GROUP, API_VERSION, namespace, plural, name)
        return result
    except ApiException as err:
        if err.status == 404:
            return None
        raise


def list_custom(plural: str, namespace: str) -> list[dict[str, Any]]:
    result = custom().list_namespaced_custom_object(API_GROUP, API_VERSION, namespace, plural)
    items: list[dict[str, Any]] = result.get("items", [])
    return items


def update_status(plural: str, namespace: str, name: str, mutate: Callable[[dict[str, Any]], dict[str, Any] | None],
                  attempts: int = 8, current: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Read-modify-write of `.status` with optimistic concurrency; `mutate` returns the new status.

    Several handlers write one object's status (the object's own handler and its Pods' events):
    resourceVersion makes a stale writer retry instead of overwriting newer facts. Nothing is
    written when `mutate` returns the status unchanged (or None).
    """
    for attempt in range(attempts):
        # `current`: an object the caller has just read, saving the first read.
        obj = current if attempt == 0 and current is not None else get_custom(plural, namespace, name)
        if obj is None:
            return None
        old = obj.get("status") or {}
        new = mutate(dict(old))
        if new is None or new == old:
            return obj
        obj["status"] = new
        try:
            result: dict[str, Any] = custom().replace_namespaced_custom_object_status(
                API_GROUP, API_VERSION, namespace, plural, name, obj)
            return result
        except ApiException as err:
            if err.status == 409:
                time.sleep(0.01)
                continue
            if err.status == 404:
                return None
            raise
    raise RuntimeError(f"status of {plural}/{namespace}/{name} kept changing under {attempts} attempts")


def create_or_get(create: Callable[[], Any], read: Callable[[], Any]) -> Any:
    """Create, or when it exists already (a restart, a second event), read what is there."""
    try:
        return create()
    except ApiException as err:
        if err.status != 409:
            raise
    return read()


def raw(response: Any) -> bytes:
    """The body of a `_preload_content=False` answer, read so that its connection goes back to the
    pool (an unread answer holds it, and the next call opens a new TLS connection)."""
    data: bytes = response.data
    response.release_conn()
    return data
