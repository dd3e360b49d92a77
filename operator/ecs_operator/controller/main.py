"""`ecs-operator run`: the operator process (kopf for the few ECSTaskDefinitions and ECSClusters,
our own reconcilers for the many ECSTasks), with KUBECONFIG or in-cluster credentials."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging


def _limit_malloc_arenas(arenas: int = 2) -> None:
    """glibc gives threads that allocate at once their own malloc arenas (up to 8 per core) and
    seldom returns their free memory; the operator runs a dozen threads that call the API."""
    libc = ctypes.util.find_library("c")
    if libc:
        with contextlib.suppress(OSError, AttributeError):  # not glibc: musl has no arenas to limit
            ctypes.CDLL(libc).mallopt(-8, arenas)  # M_ARENA_MAX


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
    kopf.run(
        standalone=True,  # one replica, no peering: the Deployment uses strategy Recreate
        clusterwide=not namespaces,
        namespaces=namespaces,
        liveness_endpoint=liveness,
    )
    return 0
