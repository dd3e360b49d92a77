"""`ecs-operator run`: the operator process (kopf for the few ECSTaskDefinitions and ECSClusters,
our own reconcilers for the many ECSTasks), with KUBECONFIG or in-cluster credentials."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import threading
from collections.abc import Iterator
from typing import Any


def _limit_malloc_arenas(arenas: int = 2) -> None:
    """glibc gives threads that allocate at once their own malloc arenas (up to 8 per core) and
    seldom returns their free memory; the operator runs a dozen threads that call the API."""
    libc = ctypes.util.find_library("c")
    if libc:
        with contextlib.suppress(OSError, AttributeError):  # not glibc: musl has no arenas to limit
            ctypes.CDLL(libc).mallopt(-8, arenas)  # M_ARENA_MAX


def _leader_elect() -> bool:
    return os.environ.get("ECS_LEADER_ELECT", "").lower() in ("1", "true", "yes")


def _lead_first(namespaces: tuple[str, ...], liveness: str | None) -> Any:
    """With leader election (`--leader-elect`, ECS_LEADER_ELECT=1; the chart sets it): list and
    watch at once (a warm standby), then wait for the Lease (leader.py) while answering the
    liveness probe; once leading, start the reconcilers' workers and return the memo kopf starts
    with. kopf, and so every kopf handler, runs only from then on; losing the Lease exits the
    process. Without it: an empty memo (kopf's startup handler makes the runtime)."""
    import kopf

    memo = kopf.Memo()
    if not _leader_elect():
        return memo
    from . import metrics
    from .leader import Elector, LeaderConfig
    from .runtime import Runtime
    from .watchcache import Scope

    metrics.set_leader(False)
    runtime = Runtime(Scope(namespaces))
    runtime.start_caches()
    elector = Elector(LeaderConfig())
    elector.start()
    with _standby_health(liveness):
        elector.wait()
    metrics.set_leader(True)  # until the process exits: losing the Lease ends it
    runtime.start()
    memo.runtime, memo.elector = runtime, elector
    return memo


@contextlib.contextmanager
def _standby_health(liveness: str | None) -> Iterator[None]:
    """The liveness endpoint while standing by (kopf serves it once it runs, on the same port)."""
    if not liveness:
        yield
        return
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import urlsplit

    url = urlsplit(liveness)

    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found = self.path.split("?")[0] == (url.path or "/")
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"leader": false}' if found else b"{}")

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer((url.hostname or "0.0.0.0", url.port or 80), Health)
    threading.Thread(target=server.serve_forever, name="standby-health", daemon=True).start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def run(namespaces: tuple[str, ...], log_level: str, liveness: str | None) -> int:
    """Serve all namespaces, or the listed ones (names or globs), until stopped."""
    _limit_malloc_arenas()
    logging.basicConfig(level=getattr(logging, log_level.upper()),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if log_level != "debug":
        # kopf logs every handler success at INFO: every cluster's status timer, every few
        # seconds. Per-object warnings and errors still show; `--log-level debug` shows them all.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    import kopf

    from . import handlers  # noqa: F401  (registers the handlers)
    from .settings import SETTINGS

    SETTINGS.namespaces = namespaces
    memo = _lead_first(namespaces, liveness)  # returns once this process leads (or elects nobody)
    kopf.run(
        # No kopf peering: with leader election kopf starts only in the process holding the Lease
        # (a standby never runs a handler); without it, one process is all there is.
        standalone=True,
        clusterwide=not namespaces,
        namespaces=namespaces,
        liveness_endpoint=liveness,
        memo=memo,
    )
    _hand_over(memo)
    return 0


# How long a stopping leader waits for its reconciles under way to end before it releases the
# Lease: several API requests' worth, well inside the Pod's 30 s termination grace period.
HANDOVER_TIMEOUT = 10.0


def _hand_over(memo: Any) -> None:
    """kopf has stopped (SIGTERM or SIGINT), and with it every kopf handler: once the reconcilers'
    workers and the Event poster have ended too, the Lease is released (leader.py) and the standby
    takes over in about 2 s, not 15. If something still runs after HANDOVER_TIMEOUT, the Lease is
    left to expire: a standby never acts while this process might still write."""
    elector, runtime = getattr(memo, "elector", None), getattr(memo, "runtime", None)
    if elector is None or runtime is None:
        return
    from . import metrics

    if runtime.stop(timeout=HANDOVER_TIMEOUT) and elector.release():
        metrics.set_leader(False)
    else:
        logging.getLogger(__name__).warning("leader election: the Lease was not released; it expires")
