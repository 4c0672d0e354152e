"""Serving a WSGI app over real HTTP on loopback for a test (a webhook's sender needs a URL)."""
import threading

from werkzeug.serving import make_server


class Served:
    """An app served over HTTP on 127.0.0.1 in a thread (werkzeug's server)."""

    def __init__(self, app):
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
