"""`ecs-operator api`: Amazon ECS's HTTP API, for the aws CLI, boto3 and the other SDKs unmodified.

A request goes: signature (SigV4, the key an ECSAccessKey in the credentials namespace) → operation
(`X-Amz-Target`) → request decoded against botocore's model → RBAC of the key's user
(SubjectAccessReview) → rate limit → the ECS API layer's function, in the key's namespace → the
answer in the wire's shape. Every refusal is ECS's error (HTTP 400, `__type` + `message`); only a
fault of ours is a 500 `ServerException`.

Server stack: aiohttp, already installed with kopf (no new dependency), asynchronous, with TLS.
The API layer is synchronous (the Kubernetes client), so each request runs in a thread pool and
the event loop only moves bytes; bench/bench_endpoint.py measures what this costs against a plain
threaded server and against moto. The endpoint keeps no state but caches (keys, RBAC answers, and
the ECS objects it reads, cache.py): any number of replicas serve the same keys.

It also serves the task metadata endpoint v4 (GET /v4/<token>-<n>[/task][/stats], ecs/metadata.py)
to the tasks' containers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from ... import api
from ...api import access_keys
from ...api.errors import EcsError
from ...ecs import metadata
from ...ecs.labels import ANNOTATION_TASK_ARN, API_GROUP, API_VERSION, METADATA_TOKEN_LABEL, TASK_LABEL
from . import metrics, protocol, sigv4
from .authz import Authorizer, Identity
from .cache import CachedSession, Caches

log = logging.getLogger("ecs_operator.endpoint")

HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"
THROTTLED = EcsError("ThrottlingException", "Rate exceeded")


@dataclass
class Settings:
    credentials_namespace: str = access_keys.DEFAULT_CREDENTIALS_NAMESPACE
    workers: int = 32
    rate: float = 50.0  # requests per second and access key, as a token bucket …
    burst: float = 100.0  # … of this depth
    key_ttl: float = 10.0  # seconds a key read from its ECSAccessKey is trusted (deleting one takes this long)
    review_ttl: float = 10.0  # seconds an RBAC answer is kept


@dataclass
class _Bucket:
    tokens: float
    at: float = field(default_factory=time.monotonic)


class Endpoint:
    """What serves one request, synchronously: `serve(...)` → (HTTP status, body)."""

    def __init__(self, api_client: client.ApiClient, settings: Settings | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC), caches: Caches | None = None):
        self.api_client = api_client
        self.caches = caches
        self.settings = settings or Settings()
        self.clock = clock
        self.core = client.CoreV1Api(api_client)
        authorization = client.AuthorizationV1Api(api_client)
        self.authorizer = Authorizer(
            lambda body: bool(authorization.create_subject_access_review(body).status.allowed),
            self.settings.review_ttl)
        self._keys: dict[str, tuple[float, access_keys.AccessKey | None]] = {}
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- one request

    def serve(self, method: str, path: str, query: str, headers: Any, body: bytes) -> tuple[int, bytes, str]:
        """(status, body, what to log) for one request; never raises."""
        action = "-"
        try:
            if method != "POST" or path != "/":
                raise EcsError("UnknownOperationException",
                               f"{method} {path}: Amazon ECS is served by POST / with an X-Amz-Target header.")
            key = self._authenticate(method, path, query, headers, body)
            action = protocol.operation(headers.get("X-Amz-Target"))
            if action not in api.ACTIONS:
                raise EcsError("UnsupportedFeatureException",
                               f"{action} is not supported by this ECS endpoint (ECS on Kubernetes serves: "
                               f"{', '.join(sorted(api.ACTIONS))}).")
            request = protocol.decode(action, body)
            who = Identity(key.user, key.groups, key.namespace)
            self.authorizer.authorize(who, action, request)
            self._throttle(key.access_key_id)
            session = (CachedSession(self.api_client, key.namespace, self.caches) if self.caches is not None
                       else api.Session(self.api_client, key.namespace))
            answer = api.call(session, action, request)
            return 200, protocol.encode(answer), action
        except EcsError as err:
            return (400 if err.client_fault else 500), protocol.error_body(err), f"{action} {err.code}"
        except Exception:  # a fault of ours: logged with its traceback, answered as ECS's ServerException
            log.exception("%s failed", action)
            fault = EcsError("ServerException", "The endpoint failed to serve the request; its log has the cause.")
            return 500, protocol.error_body(fault), f"{action} ServerException"

    # ---------------------------------------------------------------- the task metadata endpoint v4

    def task_metadata(self, path: str) -> tuple[int, bytes]:
        """What a task's container reads at `${ECS_CONTAINER_METADATA_URI_V4}[/task][/stats]`; 404 for
        a path or token that names no running task's container (no token, no data)."""
        parsed = metadata.parse_path(path)
        if parsed is None:
            return 404, b'{"error":"not a task metadata path"}'
        token, index, rest = parsed
        pods = self.core.list_pod_for_all_namespaces(
            label_selector=f"{METADATA_TOKEN_LABEL}={metadata.token_hash(token)}").items
        if len(pods) != 1:
            return 404, b'{"error":"no task has this metadata token"}'
        pod = self.api_client.sanitize_for_serialization(pods[0])
        record = self._task_record(pod)
        if record is None:
            return 404, b'{"error":"the task has no status yet"}'
        answer: Any
        if rest == "":
            answer = metadata.container_metadata(record, pod, index)
        elif rest == "task":
            answer = metadata.task_metadata(record, pod)
        else:
            answer = metadata.stats(pod, index if rest == "stats" else None)
        if answer is None:
            return 404, b'{"error":"no such container"}'
        return 200, json.dumps(answer, separators=(",", ":")).encode()

    def _task_record(self, pod: dict[str, Any]) -> dict[str, Any] | None:
        meta = pod["metadata"]
        name = meta.get("labels", {}).get(TASK_LABEL)
        arn = meta.get("annotations", {}).get(ANNOTATION_TASK_ARN)
        if not name or not arn:
            return None
        try:
            task = client.CustomObjectsApi(self.api_client).get_namespaced_custom_object(
                API_GROUP, API_VERSION, meta["namespace"], "ecstasks", name)
        except ApiException as err:
            if err.status == 404:
                return None
            raise
        records: list[dict[str, Any]] = (task.get("status") or {}).get("tasks", [])
        return next((r for r in records if r.get("taskArn") == arn), None)

    def _authenticate(self, method: str, path: str, query: str, headers: Any, body: bytes) -> access_keys.AccessKey:
        found: list[access_keys.AccessKey] = []

        def secret_of(access_key_id: str) -> str | None:
            key = self._key(access_key_id)
            if key is None or not key.active:
                return None
            found.append(key)
            return key.secret_access_key

        sigv4.verify(method, path, query, headers, body, self.clock(), secret_of)
        return found[0]

    def _key(self, access_key_id: str) -> access_keys.AccessKey | None:
        moment = time.monotonic()
        with self._lock:
            cached = self._keys.get(access_key_id)
        if cached is not None and cached[0] > moment:
            return cached[1]
        key = access_keys.read_access_key(self.core, access_key_id, self.settings.credentials_namespace)
        with self._lock:
            if len(self._keys) > 10_000:  # unknown ids by the thousand: forget rather than grow
                self._keys.clear()
            # an unknown id is asked again sooner: a key just minted works within 2 s
            self._keys[access_key_id] = (moment + (self.settings.key_ttl if key else 2.0), key)
        return key

    def _throttle(self, access_key_id: str) -> None:
        moment = time.monotonic()
        with self._lock:
            bucket = self._buckets.setdefault(access_key_id, _Bucket(self.settings.burst, moment))
            bucket.tokens = min(self.settings.burst, bucket.tokens + (moment - bucket.at) * self.settings.rate)
            bucket.at = moment
            if bucket.tokens < 1.0:
                raise THROTTLED
            bucket.tokens -= 1.0


def application(endpoint: Endpoint) -> web.Application:
    executor = ThreadPoolExecutor(max_workers=endpoint.settings.workers, thread_name_prefix="ecs-api")

    async def ecs(request: web.Request) -> web.StreamResponse:
        request_id = str(uuid.uuid4())
        started = time.monotonic()
        if request.content_length is not None and request.content_length > protocol.MAX_BODY_BYTES:
            status, body, what = _too_large()
        else:
            try:
                body_in = await request.read()
            except web.HTTPRequestEntityTooLarge:
                status, body, what = _too_large()
            else:
                loop = asyncio.get_running_loop()
                status, body, what = await loop.run_in_executor(
                    executor, endpoint.serve, request.method, request.path, request.query_string, request.headers,
                    body_in)
        seconds = time.monotonic() - started
        metrics.observe(what, status, seconds)
        log.info("%s %s %d %.1f ms", request_id, what, status, seconds * 1000)
        headers = {"x-amzn-RequestId": request_id}
        if status != 200:
            headers["x-amzn-ErrorType"] = what.rsplit(" ", 1)[-1]
        return web.Response(status=status, body=body, content_type=protocol.CONTENT_TYPE, headers=headers)

    async def task_metadata(request: web.Request) -> web.Response:
        loop = asyncio.get_running_loop()
        try:
            status, body = await loop.run_in_executor(executor, endpoint.task_metadata, request.path)
        except Exception:
            log.exception("task metadata failed")
            status, body = 500, b'{"error":"the endpoint failed; its log has the cause"}'
        return web.Response(status=status, body=body, content_type="application/json")

    async def health(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def prometheus(_: web.Request) -> web.Response:
        body, content_type = metrics.exposition()
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def close_executor(_: web.Application) -> None:
        executor.shutdown(wait=False, cancel_futures=True)

    app = web.Application(client_max_size=protocol.MAX_BODY_BYTES)
    app.router.add_get(HEALTH_PATH, health)
    app.router.add_get(METRICS_PATH, prometheus)
    app.router.add_get("/v4/{tail:.*}", task_metadata)
    app.router.add_route("*", "/{tail:.*}", ecs)
    app.on_cleanup.append(close_executor)
    return app


def _too_large() -> tuple[int, bytes, str]:
    error = EcsError("SerializationException",
                     f"The request body is larger than {protocol.MAX_BODY_BYTES} bytes.")
    return 413, protocol.error_body(error), "- SerializationException"


def api_client_from(kubeconfig: str | None, workers: int = 32) -> client.ApiClient:
    """KUBECONFIG (or the file named) when there is one, the Pod's service account otherwise; a
    connection for each worker thread and the caches' watches."""
    import os

    from kubernetes import config

    configuration = client.Configuration()
    if kubeconfig or os.environ.get("KUBECONFIG") or not os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    else:
        config.load_incluster_config(client_configuration=configuration)
    configuration.connection_pool_maxsize = workers + 8
    return client.ApiClient(configuration)


def serve(listen: str, settings: Settings, kubeconfig: str | None = None, tls_cert_file: str | None = None,
          tls_private_key_file: str | None = None) -> int:
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"--listen must be HOST:PORT, e.g. 127.0.0.1:5373; got {listen!r}")
    if bool(tls_cert_file) != bool(tls_private_key_file):
        raise ValueError("TLS needs both --tls-cert-file and --tls-private-key-file")
    context = None
    if tls_cert_file and tls_private_key_file:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(tls_cert_file, tls_private_key_file)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)  # our own line per request says more
    protocol.operations()  # load botocore's model now, not on the first request
    api_client = api_client_from(kubeconfig, settings.workers)
    caches = Caches(api_client)
    caches.start()  # listed before the first request is served (readiness follows)
    endpoint = Endpoint(api_client, settings, caches=caches)
    scheme = "https" if context else "http"
    print(f"serving Amazon ECS's API at {scheme}://{host.strip('[]')}:{port} (credentials in namespace "
          f"{settings.credentials_namespace})", flush=True)
    web.run_app(application(endpoint), host=host.strip("[]"), port=int(port), ssl_context=context,
                print=None, access_log=None, handle_signals=True)
    return 0
