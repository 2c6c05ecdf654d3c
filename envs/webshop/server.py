"""``agentdistill serve webshop``: the WebShop engine as a website on loopback, for people to shop an
instruction in a browser (upstream's human-play site). Same engine and pages as the text env.

Routes: ``/`` -> a new session; ``/new`` -> a session on a random goal of the split; ``/fixed_<n>`` ->
goal ``n`` of the split (upstream's convention); ``/<session>`` -> its current page;
``POST /<session>/search`` (form field ``search_query``); ``GET|POST /<session>/click?label=...``.
"""
from __future__ import annotations

import argparse
import random
import secrets
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from envs.core import InvalidAction
from envs.webshop.engine import Session, WebShopEngine

MAX_BODY_BYTES = 10_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``agentdistill serve``."""
    parser.add_argument("env", choices=["webshop"], help="the environment to serve")
    parser.add_argument("--port", type=int, default=3000, help="TCP port (default 3000)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, loopback only)")
    parser.add_argument("--split", default="test", choices=["test", "eval", "train"], help="goals to shop for")
    parser.add_argument("--data", default=None, help="folder of upstream WebShop files (default: $WEBSHOP_DATA or bundled)")


class WebShopSite:
    """Sessions over one shared engine; thread-safe."""

    def __init__(self, engine: WebShopEngine, split: str, seed: int | None = None):
        self.engine = engine
        self.goal_ids = engine.catalog.split_ids(split)
        if not self.goal_ids:
            raise ValueError(f"split {split!r} has no goals in {engine.catalog.source}")
        self.sessions: dict[str, Session] = {}
        self.lock = threading.Lock()
        self.rng = random.Random(seed)

    def new_session(self, fixed: int | None = None) -> Session:
        """A session on goal ``fixed`` of the split, or a random one."""
        if fixed is not None and not 0 <= fixed < len(self.goal_ids):
            raise KeyError(f"fixed_{fixed}: the split has goals 0-{len(self.goal_ids) - 1}")
        with self.lock:
            position = fixed if fixed is not None else self.rng.randrange(len(self.goal_ids))
            session_id = f"fixed_{fixed}" if fixed is not None else secrets.token_hex(5)
            session = self.engine.start(session_id, self.goal_ids[position])
            self.sessions[session_id] = session
            return session


def _handler(site: WebShopSite) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet: one line per request is noise
            return

        def _send(self, status: int, body: str, location: str | None = None) -> None:
            data = body.encode("utf-8")
            self.send_response(status)
            if location:
                self.send_header("Location", location)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _form(self) -> dict[str, list[str]]:
            length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY_BYTES)
            return parse_qs(self.rfile.read(length).decode("utf-8", "replace")) if length else {}

        def _route(self, method: str) -> None:
            url = urlsplit(self.path)
            parts = [unquote(p) for p in url.path.split("/") if p]
            fields = parse_qs(url.query)
            if method == "POST":
                fields.update(self._form())
            if not parts or parts == ["new"]:
                session = site.new_session()
                return self._send(HTTPStatus.SEE_OTHER, "", f"/{quote(session.id)}")
            session_id = parts[0]
            with site.lock:
                session = site.sessions.get(session_id)
            if session is None and session_id.startswith("fixed_") and session_id[6:].isdigit():
                try:
                    session = site.new_session(int(session_id[6:]))
                except KeyError as err:
                    return self._send(HTTPStatus.NOT_FOUND, f"<p>{err}</p>")
            if session is None:
                return self._send(HTTPStatus.NOT_FOUND, f'<p>No session {session_id!r}. <a href="/new">Start one</a>.</p>')
            if len(parts) == 1:
                return self._send(HTTPStatus.OK, session.html)
            command = parts[1]
            try:
                with site.lock:
                    if command == "search":
                        site.engine.search(session, (fields.get("search_query") or [""])[0])
                    elif command == "click":
                        site.engine.click(session, (fields.get("label") or [""])[0])
                    else:
                        return self._send(HTTPStatus.NOT_FOUND, f"<p>Unknown page {command!r}.</p>")
            except InvalidAction as err:
                return self._send(HTTPStatus.BAD_REQUEST, f'<p>{err}</p><p><a href="/{quote(session.id)}">Back</a></p>')
            self._send(HTTPStatus.SEE_OTHER, "", f"/{quote(session.id)}")

        def do_GET(self) -> None:
            self._route("GET")

        def do_POST(self) -> None:
            self._route("POST")

    return Handler


def make_server(host: str = "127.0.0.1", port: int = 3000, split: str = "test", data: str | None = None) -> ThreadingHTTPServer:
    """A ready HTTP server for the engine of ``data``; call ``serve_forever()`` (``port=0``: any free port)."""
    site = WebShopSite(WebShopEngine.for_data(data), split)
    server = ThreadingHTTPServer((host, port), _handler(site))
    server.daemon_threads = True
    return server


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    server = make_server(args.host, args.port, args.split, getattr(args, "data", None))
    host, port = server.server_address[:2]
    print(f"WebShop on http://{host}:{port}/  (Ctrl-C to stop; /fixed_<n> opens goal n of the {args.split} split)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
