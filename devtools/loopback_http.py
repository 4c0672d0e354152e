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
