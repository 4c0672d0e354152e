"""The HTTP plumbing the local stand-ins share (the Bot API emulator, the fake Twilio, the fake
OxaPay): a threaded server on loopback that knows its open connections, so that stop() leaves no
keep-alive handler behind, and a handler that tells it about them and logs nothing (the
stand-ins record their calls themselves)."""
from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class TrackedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[TrackedHandler]) -> None:
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def get_request(self):
        connection, address = super().get_request()
        # Without it Nagle's algorithm and delayed ACKs cost ~40 ms per keep-alive call.
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection, address

    def track(self, connection: socket.socket, alive: bool) -> None:
        with self._connections_lock:
            (self._connections.add if alive else self._connections.discard)(connection)

    def close_connections(self) -> None:
        """Cut keep-alive connections, so that no handler outlives stop()."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def serve_in_background(self, name: str) -> None:
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                         name=name, daemon=True).start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self.close_connections()


class TrackedHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: TrackedServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, alive=True)

    def finish(self) -> None:
        self.server.track(self.connection, alive=False)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the stand-ins record calls
        pass


class StandIn:
    """start(), stop(), base_url and `with` for a stand-in served by a TrackedServer.

    A subclass names its `server_class` (called with the address and the stand-in) and
    `thread_name`, and sets `_address` and `_cond` (a threading.Condition its waiters use);
    the `_workers` threads it starts (webhooks, callbacks) are joined on stop()."""
    server_class = None
    thread_name = "stand-in"
    _server = None
    _stopping = False
    _workers = ()

    def start(self):
        self._stopping = False
        self._server = self.server_class(self._address, self)
        self._server.serve_in_background(self.thread_name)
        return self

    @property
    def base_url(self) -> str:
        """Where it serves: what the product's *_API_URL setting points at in tests."""
        if self._server is None:
            raise RuntimeError(f"the {self.thread_name} is not running: call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        """Stop serving; waiters return at once, and what is not yet sent is dropped."""
        if self._server is None:
            return
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for worker in list(self._workers):
            worker.join(timeout=2)
        self._server.stop()
        self._server = None

    def __enter__(self):
        return self if self._server else self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
