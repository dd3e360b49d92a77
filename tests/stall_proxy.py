"""A TCP proxy whose open connections can be made to go silent: a stalled watch, made on purpose.

`freeze()` stops forwarding on every connection open at that moment, in both directions, without
closing it (as a half-dead NAT entry or a hung load balancer would); connections opened later work.
A client only gets past a frozen connection by noticing the silence itself.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class StallProxy:
    def __init__(self, upstream_port: int, host: str = "127.0.0.1") -> None:
        self.upstream = (host, upstream_port)
        self._server = socket.create_server((host, 0))
        self.port = self._server.getsockname()[1]
        self._lock = threading.Lock()
        self._open: list[threading.Event] = []  # per connection: set = frozen
        self._held: list[socket.socket] = []  # every socket, so none is closed by garbage collection
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                downstream, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            frozen = threading.Event()
            with self._lock:
                self._open.append(frozen)
                self._held += [downstream, upstream]
            for source, target in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(target=self._pump, args=(source, target, frozen), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket, frozen: threading.Event) -> None:
        try:
            while data := source.recv(65536):
                if frozen.is_set():
                    return  # swallowed: silence from here on (the sockets stay open, held by the proxy)
                target.sendall(data)
        except OSError:
            pass
        finally:
            if not frozen.is_set():
                for s in (source, target):
                    with contextlib.suppress(OSError):
                        s.shutdown(socket.SHUT_RDWR)

    def freeze(self) -> int:
        """Silence every connection open now; returns how many."""
        with self._lock:
            for frozen in self._open:
                frozen.set()
            count = len(self._open)
            self._open = []
        return count

    def close(self) -> None:
        self._closed = True
        self._server.close()
