"""Thin Kubernetes API helpers for the reconcilers: reads, idempotent creates, status updates."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from ..ecs.labels import API_GROUP, API_VERSION
from . import metrics
from .settings import SETTINGS

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
        # Every thread that calls the API keeps its connection (the task and service workers, the
        # Event poster, kopf's handler threads): a smaller pool would drop and re-open TLS connections.
        configuration.connection_pool_maxsize = max(32, SETTINGS.task_workers + SETTINGS.service_workers + 8)
        _api = client.ApiClient(configuration)
        _with_default_timeout(_api)
    return _api


def use(api_client: client.ApiClient) -> None:
    """Make `send`, `stream` and `api()` use this client (the ECS endpoint brings its own)."""
    global _api
    _with_default_timeout(api_client)
    _api = api_client


# (connect, read) seconds. The client waits forever by default: a connection that silently stops
# answering (a stalled proxy, a half-open TCP connection) would hold a worker for good.
REQUEST_TIMEOUT = (5.0, float(os.environ.get("ECS_API_READ_TIMEOUT", "30")))


def _with_default_timeout(api_client: client.ApiClient) -> None:
    """…and every request of the generated client counted and timed (ecs_operator_kube_*)."""
    rest = api_client.rest_client
    request = rest.request

    def request_with_timeout(*args: Any, _request_timeout: Any = None, **kwargs: Any) -> Any:
        return request(*args, _request_timeout=_request_timeout or REQUEST_TIMEOUT, **kwargs)

    rest.request = metrics.observed_client_request(request_with_timeout)


# --------------------------------------------------------------------------- the hot path
# The generated client spends more CPU per call than the reconcile that makes it: pydantic
# validation of every argument, a recursive sanitize of the body, the credentials refreshed on
# every request. The ECSTask reconciler's few kinds of request (create a Pod, replace a status,
# delete) and the watched caches' lists and watches go through `send` and `stream` instead: one
# json.dumps, the credentials reused for a few seconds.

_AUTH_REUSE = 10.0  # seconds; a rotated ServiceAccount token is read again well within its grace
_auth_lock = threading.Lock()
_auth: tuple[float, dict[str, str]] = (0.0, {})


def _auth_headers() -> dict[str, str]:
    global _auth
    with _auth_lock:
        expires, headers = _auth
        if time.monotonic() >= expires:
            settings = api().configuration.auth_settings()
            headers = {s["key"]: s["value"] for s in settings.values() if s.get("in") == "header" and s.get("value")}
            _auth = (time.monotonic() + _AUTH_REUSE, headers)
        return headers


def _url(path: str, query: dict[str, Any] | None) -> str:
    params = {k: v for k, v in (query or {}).items() if v is not None}
    return api().configuration.host + quote(path) + (f"?{urlencode(params)}" if params else "")


def _headers(content_type: str = "application/json") -> dict[str, str]:
    return {"Accept": "application/json", "Content-Type": content_type, "User-Agent": "ecs-operator",
            **_auth_headers()}


def _failed(response: Any) -> ApiException:
    return ApiException(status=response.status, reason=response.reason, body=response.data.decode(errors="replace"))


def _observed(method: str, path: str, query: dict[str, Any] | None, **kwargs: Any) -> Any:
    """One request over the client's connection pool, counted and timed (ecs_operator_kube_*)."""
    verb, resource = metrics.request_kind(method, path, watch=(query or {}).get("watch") == "true")
    started = time.perf_counter()
    try:
        response = api().rest_client.pool_manager.request(method, _url(path, query), **kwargs)
    except Exception:
        metrics.observe_request(verb, resource, metrics.NO_ANSWER, time.perf_counter() - started)
        raise
    metrics.observe_request(verb, resource, response.status, time.perf_counter() - started)
    return response


def send(method: str, path: str, body: Any = None, query: dict[str, Any] | None = None,
         decode: bool = True, content_type: str = "application/json") -> Any:
    """One API request with a JSON body (a PATCH: content_type application/merge-patch+json); the
    decoded answer (None unless `decode`). ApiException as the client raises it."""
    data = None if body is None else json.dumps(body, separators=(",", ":"))
    response = _observed(method, path, query, body=data, headers=_headers(content_type), preload_content=True,
                         timeout=urllib3.Timeout(connect=REQUEST_TIMEOUT[0], read=REQUEST_TIMEOUT[1]))
    if not 200 <= response.status < 300:
        raise _failed(response)
    return json.loads(response.data) if decode and response.data else None


def stream(path: str, query: dict[str, Any], read_timeout: float) -> Any:
    """A GET whose answer is read as it arrives (a watch): the open urllib3 response. A read that
    waits longer than `read_timeout` for the next bytes raises urllib3's ReadTimeoutError."""
    response = _observed("GET", path, query, headers=_headers(), preload_content=False,
                         timeout=urllib3.Timeout(connect=REQUEST_TIMEOUT[0], read=read_timeout))
    if response.status != 200:
        response.read()
        response.release_conn()
        raise _failed(response)
    return response


def core_path(plural: str, namespace: str | None = None, name: str | None = None) -> str:
    """A core (v1) collection or object; namespace None: across all namespaces, or cluster-scoped."""
    path = f"/api/v1/namespaces/{namespace}/{plural}" if namespace else f"/api/v1/{plural}"
    return path + (f"/{name}" if name else "")


def custom_path(plural: str, namespace: str | None = None, name: str | None = None,
                subresource: str | None = None) -> str:
    """One of our custom resources' collections or objects; namespace None: across all namespaces."""
    path = f"/apis/{API_GROUP}/{API_VERSION}" + (f"/namespaces/{namespace}" if namespace else "") + f"/{plural}"
    return path + (f"/{name}" if name else "") + (f"/{subresource}" if subresource else "")


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
        result: dict[str, Any] = send("GET", custom_path(plural, namespace, name))
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
                  attempts: int = 8, current: dict[str, Any] | None = None, reread: bool = True
                  ) -> dict[str, Any] | None:
    """Read-modify-write of `.status` with optimistic concurrency; `mutate` returns the new status.

    Several handlers write one object's status (the object's own handler and its Pods' events):
    resourceVersion makes a stale writer retry instead of overwriting newer facts. Nothing is
    written when `mutate` returns the status unchanged (or None). `reread=False`: a stale `current`
    is given up (None) instead of read again, for a caller that comes back soon with a fresher one.
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
            result: dict[str, Any] = send("PUT", custom_path(plural, namespace, name, "status"), obj)
            return result
        except ApiException as err:
            if err.status == 409:
                if not reread:
                    return None
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
