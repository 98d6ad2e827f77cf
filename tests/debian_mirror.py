"""A Debian mirror on loopback for tests of lmsops.images.suites and upgrade-major: dists/<suite>/Release
and main/binary-amd64/Packages.xz of the suites it is given; anything else is 404."""

from __future__ import annotations

import http.server
import lzma
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Mirror(http.server.ThreadingHTTPServer):
    """dists/<suite>/Release and main/binary-amd64/Packages.xz of the suites it is given, on loopback."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/debian"

    def add(self, suite: str, release: str, packages: dict[str, str], codename: str | None = None) -> None:
        self.files[f"/debian/dists/{suite}/Release"] = (
            f"Origin: Debian\nVersion: {release}\nCodename: {codename or suite}\nSHA256:\n 0123 12 main/x\n"
        ).encode()
        index = "".join(
            f"Package: {name}\nVersion: {version}\nArchitecture: amd64\n\n" for name, version in packages.items()
        )
        self.files[f"/debian/dists/{suite}/main/binary-amd64/Packages.xz"] = lzma.compress(index.encode())


class _Handler(http.server.BaseHTTPRequestHandler):
    server: Mirror

    def do_GET(self) -> None:
        body = self.server.files.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.end_headers()
        self.wfile.write(body or b"not found")

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serving() -> Iterator[Mirror]:
    """A mirror answering on a free loopback port for the block."""
    server = Mirror()
    # shutdown() waits for the loop's next poll: 0.5 s by default, at the end of every test that uses it.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
