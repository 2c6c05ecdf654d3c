"""``agentdistill serve webshop``: the WebShop engine as a website on loopback, for people to shop an
instruction in a browser (upstream's human-play site, which upstream serves with Flask too). Same engine
and pages as the text env.

Routes: ``/`` and ``/new`` -> a session on a random goal of the split; ``/fixed_<n>`` -> goal ``n`` of the
split (upstream's convention); ``/<session>`` -> its current page; ``POST /<session>/search`` (form field
``search_query``); ``GET|POST /<session>/click?label=...``.

The pages are the engine's (:mod:`envs.webshop.html`); every other response (errors, unknown pages) is a
Jinja2 template with autoescaping, so no request text reaches a page unescaped. The server is waitress:
it reads a whole request (at most ``MAX_BODY_BYTES`` of body) before a worker thread sees it, so a client
that sends less body than its ``Content-Length`` promises holds no thread, only a connection that is closed
after ``idle_timeout_s``; malformed requests (``Content-Length: abc``) get 400 from it. Sessions live in an
LRU cache that also forgets a session ``session_ttl_s`` after its last use.
"""
from __future__ import annotations

import argparse
import random
import re
import secrets
import threading
from pathlib import Path

from cachetools import TTLCache
from flask import Flask, Response, redirect, render_template, request, url_for
from waitress.server import create_server
from werkzeug.exceptions import BadRequest, HTTPException, NotFound

from envs.core import InvalidAction
from envs.webshop.engine import Session, WebShopEngine

MAX_BODY_BYTES = 10_000
MAX_SESSIONS = 1_000
SESSION_TTL_S = 3_600.0
IDLE_TIMEOUT_S = 30
#: longest goal number ``/fixed_<n>`` accepts (Python refuses to parse ints of more than 4300 digits)
MAX_GOAL_DIGITS = 9
_FIXED = re.compile(r"fixed_(\d+)")
#: the pages are plain HTML forms: no script, no foreign origin
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                               "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``agentdistill serve``."""
    parser.add_argument("env", choices=["webshop"], help="the environment to serve")
    parser.add_argument("--port", type=int, default=3000, help="TCP port (default 3000)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1, loopback only)")
    parser.add_argument("--split", default="test", choices=["test", "eval", "train"],
                        help="goals to shop for")
    parser.add_argument("--data", default=None,
                        help="folder of upstream WebShop files (default: $WEBSHOP_DATA or bundled)")
    parser.add_argument("--threads", type=int, default=4, help="worker threads (default 4)")


class WebShopSite:
    """Sessions over one shared engine, at most ``max_sessions`` of them, each forgotten ``ttl_s``
    seconds after its last use (least recently used first when full); thread-safe."""

    def __init__(self, engine: WebShopEngine, split: str, seed: int | None = None,
                 max_sessions: int = MAX_SESSIONS, ttl_s: float = SESSION_TTL_S):
        self.engine = engine
        self.goal_ids = engine.catalog.split_ids(split)
        if not self.goal_ids:
            raise ValueError(f"split {split!r} has no goals in {engine.catalog.source}")
        self.sessions: TTLCache[str, Session] = TTLCache(maxsize=max_sessions, ttl=ttl_s)
        self.lock = threading.Lock()  # guards the cache and the engine (its search index is shared)
        self.rng = random.Random(seed)

    def new_session(self) -> Session:
        """A session on a random goal of the split."""
        with self.lock:
            position = self.rng.randrange(len(self.goal_ids))
            return self._start(secrets.token_hex(8), position)

    def get(self, session_id: str) -> Session | None:
        """The session ``session_id`` (``fixed_<n>`` is started on first use); None if there is none.

        Raises NotFound for a goal number the split does not have, BadRequest for one of absurd length."""
        with self.lock:
            session = self.sessions.get(session_id)
            if session is not None:
                self.sessions[session_id] = session  # its idle time starts again
                return session
            fixed = _FIXED.fullmatch(session_id)
            if fixed is None:
                return None
            digits = fixed.group(1)
            goals = f"this split has goals 0-{len(self.goal_ids) - 1}"
            if len(digits) > MAX_GOAL_DIGITS:
                raise BadRequest(f"goal number of {len(digits)} digits; {goals}")
            if int(digits) >= len(self.goal_ids):
                raise NotFound(f"no goal {int(digits)}: {goals}")
            return self._start(session_id, int(digits))

    def _start(self, session_id: str, position: int) -> Session:
        session = self.engine.start(session_id, self.goal_ids[position])
        self.sessions[session_id] = session
        return session


def create_app(site: WebShopSite) -> Flask:
    """The Flask app of ``site`` (see the module docstring for its routes)."""
    app = Flask(__name__, template_folder=str(Path(__file__).parent / "templates" / "site"))
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES

    def error_page(status: int, title: str, message: str, session: Session | None = None) -> Response:
        back = url_for("page", session_id=session.id) if session is not None else None
        html = render_template("error.html", title=title, message=message, back=back)
        return Response(html, status=status, mimetype="text/html")

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException) -> Response:
        return error_page(err.code or 500, err.name, err.description or "")

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.get("/")
    @app.get("/new")
    def new_session() -> Response:
        return redirect(url_for("page", session_id=site.new_session().id), 303)

    def session_or_404(session_id: str) -> Session:
        session = site.get(session_id)
        if session is None:
            raise NotFound(f"No session {session_id!r}: it never existed or has expired.")
        return session

    @app.get("/<session_id>")
    def page(session_id: str) -> Response:
        return Response(session_or_404(session_id).html, mimetype="text/html")

    @app.route("/<session_id>/<command>", methods=["GET", "POST"])
    def act(session_id: str, command: str) -> Response:
        session = session_or_404(session_id)
        try:
            with site.lock:
                if command == "search":
                    site.engine.search(session, request.values.get("search_query", ""))
                elif command == "click":
                    site.engine.click(session, request.values.get("label", ""))
                else:
                    return error_page(404, "Not Found", f"Unknown page {command!r}.", session)
        except InvalidAction as err:
            return error_page(400, "Invalid action", str(err), session)
        return redirect(url_for("page", session_id=session.id), 303)

    return app


def make_server(host: str = "127.0.0.1", port: int = 3000, split: str = "test", data: str | None = None, *,
                threads: int = 4, idle_timeout_s: int = IDLE_TIMEOUT_S, max_sessions: int = MAX_SESSIONS,
                session_ttl_s: float = SESSION_TTL_S):
    """A ready waitress server for the engine of ``data``: ``run()`` serves until ``close()``; ``port=0``
    takes any free port (``effective_port`` says which). ``idle_timeout_s``: a connection that sends
    nothing for that long (e.g. a body shorter than its Content-Length) is closed."""
    site = WebShopSite(WebShopEngine.for_data(data), split, max_sessions=max_sessions, ttl_s=session_ttl_s)
    return create_server(
        create_app(site), host=host, port=port, threads=threads, channel_timeout=idle_timeout_s,
        cleanup_interval=max(1, idle_timeout_s // 2), max_request_body_size=MAX_BODY_BYTES,
        ident="agentdistill-webshop", clear_untrusted_proxy_headers=True,
    )


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    server = make_server(args.host, args.port, args.split, getattr(args, "data", None),
                         threads=getattr(args, "threads", 4))
    print(f"WebShop on http://{server.effective_host}:{server.effective_port}/  "
          f"(Ctrl-C to stop; /fixed_<n> opens goal n of the {args.split} split)")
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0
