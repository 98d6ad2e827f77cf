"""A recording stand-in for the Docker Engine API, used to render what a deploy would create.

`docker stack deploy` and `docker compose create` are pointed at this server (DOCKER_HOST=unix://...)
instead of a real engine. It answers as an empty engine would (nothing exists yet), serves the
facts the clients need (API version, image inspect documents read from the real engine through the
adapter) and records every object the clients ask to create: the service specs and container
configurations that the real tools produce from the declared model, by their own code. Nothing
reaches a real engine; a request it does not know is refused and reported, never guessed.
"""

from __future__ import annotations

import json
import shutil
import socketserver
import tempfile
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class EngineFacts:
    """What the fake says about itself: the real engine's version, and the images it holds."""

    api_version: str
    version: dict[str, Any]
    images: Mapping[str, dict[str, Any]] = field(default_factory=dict)  # reference -> image inspect


@dataclass
class Recording:
    """Everything the client asked the fake engine to create, in order."""

    services: list[dict[str, Any]] = field(default_factory=list)
    containers: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> create body (+ Id)
    networks: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> create body (+ Id)
    volumes: dict[str, dict[str, Any]] = field(default_factory=dict)
    secrets: dict[str, dict[str, Any]] = field(default_factory=dict)
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    connects: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (network, body)
    refused: list[str] = field(default_factory=list)  # requests the fake does not know


def _new_id() -> str:
    return uuid.uuid4().hex + uuid.uuid4().hex


def _filters(query: dict[str, list[str]]) -> dict[str, list[str]]:
    raw = json.loads(query.get("filters", ["{}"])[0] or "{}")
    return {key: list(value) if isinstance(value, dict | list) else [str(value)] for key, value in raw.items()}


def _labels_match(labels: Mapping[str, str], wanted: list[str]) -> bool:
    for item in wanted:
        key, sep, value = item.partition("=")
        if key not in labels or (sep and labels[key] != value):
            return False
    return True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the recording is the log."""

    def address_string(self) -> str:
        return "fake-engine"

    # -- plumbing ---------------------------------------------------------------------------
    def _body(self) -> Any:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while (size := int(self.rfile.readline().strip() or b"0", 16)) > 0:
                data += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
        else:
            data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        return json.loads(data) if data.strip() else None

    def _send(self, status: int, payload: Any = None, headers: Mapping[str, str] | None = None) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        facts = self.server.facts
        self.send_header("Api-Version", facts.api_version)
        self.send_header("Ostype", "linux")
        self.send_header("Docker-Experimental", "false")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if payload is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _not_found(self, what: str) -> None:
        self._send(404, {"message": f"No such object: {what}"})

    def _route(self) -> tuple[str, dict[str, list[str]]]:
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        segments = path.split("/")
        if len(segments) > 1 and segments[1].startswith("v1."):  # /v1.41/... -> /...
            path = "/" + "/".join(segments[2:])
        return path, parse_qs(parts.query)

    # -- verbs ------------------------------------------------------------------------------
    def do_HEAD(self) -> None:
        self._dispatch()

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        path, query = self._route()
        body = self._body() if self.command in {"POST", "DELETE"} else None
        with self.server.lock:
            handled = self._answer(self.command, path, query, body)
        if not handled:
            self.server.recording.refused.append(f"{self.command} {path}")
            self._send(501, {"message": f"lmsops's rendering engine does not implement {self.command} {path}"})

    def _answer(self, verb: str, path: str, query: dict[str, list[str]], body: Any) -> bool:
        rec, facts = self.server.recording, self.server.facts
        if path == "/_ping":
            self._send(200, None, {"Swarm": "active/manager"})
            return True
        if verb == "GET" and path == "/version":
            self._send(200, facts.version)
            return True
        if verb == "GET" and path == "/info":
            swarm = {"LocalNodeState": "active", "ControlAvailable": True, "NodeID": "lmsops-render"}
            self._send(200, {"OSType": "linux", "ServerVersion": facts.version.get("Version", ""), "Swarm": swarm})
            return True
        if verb == "GET" and path.startswith("/images/") and path.endswith("/json"):
            reference = path.removeprefix("/images/").removesuffix("/json")
            image = facts.images.get(reference)
            self._send(200, image) if image else self._not_found(reference)
            return True
        for kind in ("networks", "volumes", "secrets", "configs"):
            store: dict[str, dict[str, Any]] = getattr(rec, kind)
            if verb == "POST" and path == f"/{kind}/create":
                name = str(body.get("Name"))
                created = {**body, "Id": _new_id(), "ID": ""}
                created["ID"] = created["Id"]
                store[name] = created
                reply = {"Id": created["Id"]} if kind == "networks" else {"ID": created["Id"]}
                self._send(201, created if kind == "volumes" else reply)
                return True
            if verb == "GET" and path.startswith(f"/{kind}/"):
                key = path.removeprefix(f"/{kind}/")
                found = store.get(key) or next((o for o in store.values() if o["Id"] == key), None)
                self._send(200, self._object(kind, found)) if found else self._not_found(key)
                return True
            if verb == "GET" and path == f"/{kind}":
                self._send(200, self._listing(kind, store, _filters(query)))
                return True
            if verb == "POST" and path.startswith(f"/{kind}/") and path.endswith("/connect"):
                rec.connects.append((path.split("/")[2], body or {}))
                self._send(200, None)
                return True
        if verb == "GET" and path == "/services":
            self._send(200, [])  # the render always starts from an empty swarm: every service is created
            return True
        if verb == "POST" and path == "/services/create":
            rec.services.append(body)
            self._send(201, {"ID": _new_id(), "Warnings": None})
            return True
        if verb == "GET" and path == "/containers/json":
            wanted = _filters(query).get("label", [])
            self._send(200, [
                self._container_summary(name, c) for name, c in rec.containers.items()
                if _labels_match(c.get("Labels") or {}, wanted)
            ])  # fmt: skip
            return True
        if verb == "POST" and path == "/containers/create":
            name = query.get("name", [""])[0]
            rec.containers[name] = {**body, "Id": _new_id()}
            self._send(201, {"Id": rec.containers[name]["Id"], "Warnings": []})
            return True
        if verb == "GET" and path.startswith("/containers/") and path.endswith("/json"):
            key = path.split("/")[2]
            match = next(((n, c) for n, c in rec.containers.items() if key in {n, c["Id"]}), None)
            self._send(200, self._container_inspect(*match)) if match else self._not_found(key)
            return True
        return False

    @staticmethod
    def _object(kind: str, created: dict[str, Any]) -> dict[str, Any]:
        if kind == "networks":
            return {"Name": created["Name"], "Id": created["Id"], "Labels": created.get("Labels") or {},
                    "Driver": created.get("Driver", ""), "Scope": "swarm" if created.get("Driver") == "overlay"
                    else "local", "Containers": {}, "Options": created.get("Options") or {}}  # fmt: skip
        if kind == "volumes":
            return {"Name": created["Name"], "Driver": created.get("Driver") or "local",
                    "Labels": created.get("Labels") or {}, "Options": created.get("DriverOpts") or {},
                    "Mountpoint": "", "Scope": "local"}  # fmt: skip
        spec = {key: value for key, value in created.items() if key not in {"Id", "ID"}}
        return {"ID": created["Id"], "Version": {"Index": 1}, "Spec": spec}

    def _listing(self, kind: str, store: dict[str, dict[str, Any]], filters: dict[str, list[str]]) -> Any:
        items = list(store.values())
        if "name" in filters:
            items = [o for o in items if o["Name"] in filters["name"]]
        if "label" in filters:
            items = [o for o in items if _labels_match(o.get("Labels") or {}, filters["label"])]
        objects = [self._object(kind, o) for o in items]
        return {"Volumes": objects, "Warnings": []} if kind == "volumes" else objects

    @staticmethod
    def _container_summary(name: str, body: dict[str, Any]) -> dict[str, Any]:
        return {"Id": body["Id"], "Names": [f"/{name}"], "Image": body.get("Image", ""),
                "Labels": body.get("Labels") or {}, "State": "created", "Status": "Created",
                "NetworkSettings": {"Networks": (body.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}},
                "Mounts": []}  # fmt: skip

    @staticmethod
    def _container_inspect(name: str, body: dict[str, Any]) -> dict[str, Any]:
        config = {k: v for k, v in body.items() if k not in {"HostConfig", "NetworkingConfig", "Id"}}
        networks = (body.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}
        return {"Id": body["Id"], "Name": f"/{name}", "Created": "", "Image": body.get("Image", ""),
                "State": {"Status": "created", "Running": False}, "Config": config,
                "HostConfig": body.get("HostConfig") or {}, "NetworkSettings": {"Networks": networks},
                "Mounts": []}  # fmt: skip


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path: str, facts: EngineFacts) -> None:
        self.facts = facts
        self.recording = Recording()
        self.lock = threading.Lock()
        super().__init__(path, _Handler)


@contextmanager
def fake_engine(facts: EngineFacts) -> Iterator[tuple[str, Recording]]:
    """Serve a fake engine on a fresh unix socket; yield (DOCKER_HOST value, the recording)."""
    # Socket paths are limited to 108 bytes: under a long TMPDIR, /tmp.
    temp = tempfile.gettempdir() if len(tempfile.gettempdir()) <= 60 else "/tmp"  # noqa: S108
    folder = Path(tempfile.mkdtemp(prefix="lmsops-render-", dir=temp))
    server = _Server(str(folder / "engine.sock"), facts)
    # shutdown() waits for the serving loop's next poll: 0.5 s by default, half of every render.
    serve = lambda: server.serve_forever(poll_interval=0.05)  # noqa: E731
    thread = threading.Thread(target=serve, name="lmsops-fake-engine", daemon=True)
    thread.start()
    try:
        yield f"unix://{folder / 'engine.sock'}", server.recording
    finally:
        server.shutdown()
        server.server_close()
        shutil.rmtree(folder, ignore_errors=True)
