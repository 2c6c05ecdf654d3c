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
after ``idle_timeout_s``; malformed requests (``Content-Length: abc``) get 400 from it.

Slow clients (slowloris): a request must be whole (headers and body) within ``request_timeout_s`` of its
first byte, else its connection is closed, however steadily it drips; and when ``connection_limit``
connections are open, a new one is still accepted: the connection that has waited longest without a whole
request (a partial request, or idle between requests) is closed for it. So a few hundred dripping
connections delay nobody's request by more than the time to accept it.

Sessions (at most ``max_sessions``) are forgotten ``session_ttl_s`` after their last use. When the site is
full, a new session evicts the least recently used session nobody has searched or clicked in yet, and
only when every session has been acted in, the least recently used of all: a flood of ``/new`` evicts its
own kind, not the sessions people shop in. One client address starts at most ``NEW_SESSION_BURST``
sessions at once and then one per ``NEW_SESSION_EVERY_S`` seconds (429 beyond).
"""
from __future__ import annotations

import argparse
import math
import random
import re
import secrets
import socket
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from flask import Flask, Response, redirect, render_template, request, url_for
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import TcpWSGIServer
from werkzeug.exceptions import BadRequest, HTTPException, NotFound, TooManyRequests

from envs.core import InvalidAction
from envs.webshop.engine import Session, WebShopEngine

MAX_BODY_BYTES = 10_000
MAX_SESSIONS = 1_000
SESSION_TTL_S = 3_600.0
IDLE_TIMEOUT_S = 30
#: a request (headers and body) must be whole this long after its first byte
REQUEST_TIMEOUT_S = 10
#: open connections (waitress counts its own two sockets in it); beyond, the longest-waiting one is closed
CONNECTION_LIMIT = 100
MAX_THREADS = 256
#: sessions one client address may start at once, and then one per NEW_SESSION_EVERY_S seconds
NEW_SESSION_BURST = 30
NEW_SESSION_EVERY_S = 1.0
#: client addresses whose session allowance is remembered (the least recently seen is forgotten first)
MAX_CLIENTS = 4_096
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
    parser.add_argument("--port", type=int, default=3000, help="TCP port, 1-65535 (default 3000)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1, loopback only)")
    parser.add_argument("--split", default="test", choices=["test", "eval", "train"],
                        help="goals to shop for")
    parser.add_argument("--data", default=None,
                        help="folder of upstream WebShop files (default: $WEBSHOP_DATA or bundled)")
    parser.add_argument("--threads", type=int, default=4, help=f"worker threads, 1-{MAX_THREADS} (default 4)")


def _check_listen(host: object, port: object, threads: object, *, lowest_port: int, flag: str) -> None:
    """ValueError naming the option (``{flag}port`` ...) unless ``host`` is an address or name this machine
    resolves, ``port`` a whole number from ``lowest_port`` to 65535 and ``threads`` one from 1 to
    MAX_THREADS (booleans are not numbers here)."""
    for name, value, lowest, highest in (("port", port, lowest_port, 65_535),
                                         ("threads", threads, 1, MAX_THREADS)):
        if isinstance(value, bool) or not isinstance(value, int) or not lowest <= value <= highest:
            raise ValueError(f"{flag}{name} {value!r}: expected a whole number from {lowest} to {highest}")
    if not isinstance(host, str) or not host or not host.isprintable() or any(c.isspace() for c in host):
        raise ValueError(f"{flag}host {host!r}: expected an IP address or host name, e.g. 127.0.0.1")
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError) as err:
        reason = getattr(err, "strerror", None) or err
        message = f"{flag}host {host!r}: not an address this machine can listen on ({reason})"
        raise ValueError(message) from None


def check_args(args: argparse.Namespace) -> None:
    """The options of ``agentdistill serve``: ValueError naming the first bad one (``--port 70000``)."""
    _check_listen(args.host, args.port, args.threads, lowest_port=1, flag="--")


class SessionCache:
    """At most ``maxsize`` sessions, each forgotten ``ttl_s`` seconds after its last use. A new session
    entering a full cache evicts the least recently used *fresh* session (one nobody has acted in: see
    :meth:`acted`), and only when there is none the least recently used acted-in one. Not thread-safe."""

    def __init__(self, maxsize: int, ttl_s: float, clock: Callable[[], float] = time.monotonic):
        if maxsize < 1 or not ttl_s > 0:
            raise ValueError(f"session cache: need maxsize >= 1 and ttl_s > 0, got {maxsize}, {ttl_s}")
        self.maxsize, self.ttl_s, self.clock = maxsize, ttl_s, clock
        #: id -> (session, time of its last use), least recently used first
        self.fresh: OrderedDict[str, tuple[Session, float]] = OrderedDict()
        self.acted_in: OrderedDict[str, tuple[Session, float]] = OrderedDict()

    def __len__(self) -> int:
        self._expire()
        return len(self.fresh) + len(self.acted_in)

    def get(self, session_id: str) -> Session | None:
        """The session ``session_id`` (its idle time starts again), or None if there is none (any more)."""
        self._expire()
        for group in (self.acted_in, self.fresh):
            if session_id in group:
                session = group.pop(session_id)[0]
                group[session_id] = (session, self.clock())
                return session
        return None

    def add(self, session: Session) -> None:
        """Keep ``session`` as a fresh one, evicting one session first if the cache is full."""
        self._expire()
        self.fresh.pop(session.id, None)
        self.acted_in.pop(session.id, None)
        if len(self.fresh) + len(self.acted_in) >= self.maxsize:
            (self.fresh or self.acted_in).popitem(last=False)
        self.fresh[session.id] = (session, self.clock())

    def acted(self, session_id: str) -> None:
        """Someone searched or clicked in ``session_id``: it is evicted only after every fresh session."""
        if session_id in self.fresh:
            self.acted_in[session_id] = (self.fresh.pop(session_id)[0], self.clock())

    def _expire(self) -> None:
        cutoff = self.clock() - self.ttl_s
        for group in (self.fresh, self.acted_in):
            while group and next(iter(group.values()))[1] <= cutoff:
                group.popitem(last=False)


class SessionAllowance:
    """How many sessions each client address may start: ``burst`` at once, then one per ``every_s``
    seconds (a token bucket); remembers the ``max_clients`` addresses seen last. Not thread-safe."""

    def __init__(self, burst: int = NEW_SESSION_BURST, every_s: float = NEW_SESSION_EVERY_S,
                 max_clients: int = MAX_CLIENTS, clock: Callable[[], float] = time.monotonic):
        self.burst, self.every_s, self.max_clients, self.clock = burst, every_s, max_clients, clock
        self.buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # address -> (tokens, when)

    def take(self, client: str) -> float:
        """0.0 when ``client`` may start a session now (and one is counted); else the seconds to wait."""
        now = self.clock()
        tokens, then = self.buckets.pop(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) / self.every_s)
        wait = 0.0 if tokens >= 1 else (1 - tokens) * self.every_s
        self.buckets[client] = (tokens - 1 if not wait else tokens, now)
        while len(self.buckets) > self.max_clients:
            self.buckets.popitem(last=False)
        return wait


class WebShopSite:
    """Sessions over one shared engine, kept in a :class:`SessionCache` of ``max_sessions`` with ``ttl_s``
    and started at most as fast as a :class:`SessionAllowance` lets each client; thread-safe."""

    def __init__(self, engine: WebShopEngine, split: str, seed: int | None = None,
                 max_sessions: int = MAX_SESSIONS, ttl_s: float = SESSION_TTL_S,
                 allowance: SessionAllowance | None = None):
        self.engine = engine
        self.goal_ids = engine.catalog.split_ids(split)
        if not self.goal_ids:
            raise ValueError(f"split {split!r} has no goals in {engine.catalog.source}")
        self.sessions = SessionCache(max_sessions, ttl_s)
        self.allowance = allowance or SessionAllowance()
        self.lock = threading.Lock()  # guards the cache and the engine (its search index is shared)
        self.rng = random.Random(seed)

    def new_session(self, client: str = "") -> Session:
        """A session on a random goal of the split, for ``client`` (its address). Raises TooManyRequests
        when that client has started its allowance of sessions."""
        with self.lock:
            position = self.rng.randrange(len(self.goal_ids))
            return self._start(secrets.token_hex(8), position, client)

    def get(self, session_id: str, client: str = "") -> Session | None:
        """The session ``session_id`` (``fixed_<n>`` is started on first use); None if there is none.

        Raises NotFound for a goal number the split does not have, BadRequest for one of absurd length,
        TooManyRequests when ``fixed_<n>`` is to be started and ``client`` has started its allowance."""
        with self.lock:
            session = self.sessions.get(session_id)
            if session is not None:
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
            return self._start(session_id, int(digits), client)

    def act(self, session: Session, command: str, text: str) -> bool:
        """Search for or click ``text`` in ``session``; False for an unknown command. Raises InvalidAction."""
        with self.lock:
            if command not in ("search", "click"):
                return False
            self.sessions.acted(session.id)
            if command == "search":
                self.engine.search(session, text)
            else:
                self.engine.click(session, text)
            return True

    def _start(self, session_id: str, position: int, client: str) -> Session:
        wait = self.allowance.take(client)
        if wait:
            allowance = f"at most {self.allowance.burst} at once, then one every {self.allowance.every_s:g} s"
            raise TooManyRequests(f"Too many new sessions from {client or 'this address'} ({allowance}). "
                                  f"Try again in {math.ceil(wait)} s.")
        session = self.engine.start(session_id, self.goal_ids[position])
        self.sessions.add(session)
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
        return redirect(url_for("page", session_id=site.new_session(request.remote_addr or "").id), 303)

    def session_or_404(session_id: str) -> Session:
        session = site.get(session_id, request.remote_addr or "")
        if session is None:
            raise NotFound(f"No session {session_id!r}: it never existed or has expired.")
        return session

    @app.get("/<session_id>")
    def page(session_id: str) -> Response:
        return Response(session_or_404(session_id).html, mimetype="text/html")

    @app.route("/<session_id>/<command>", methods=["GET", "POST"])
    def act(session_id: str, command: str) -> Response:
        session = session_or_404(session_id)
        text = request.values.get("search_query" if command == "search" else "label", "")
        try:
            if not site.act(session, command, text):
                return error_page(404, "Not Found", f"Unknown page {command!r}.", session)
        except InvalidAction as err:
            return error_page(400, "Invalid action", str(err), session)
        return redirect(url_for("page", session_id=session.id), 303)

    return app


class _Request(HTTPRequestParser):
    """waitress's request parser, stamped with the time the request's first byte came in."""

    def __init__(self, adj: Adjustments):
        super().__init__(adj)
        self.started = time.time()


class _Channel(HTTPChannel):
    """waitress's connection, which says how long it has held its place without a request to serve."""

    parser_class = _Request

    def waiting_since(self) -> float | None:
        """When this connection began to wait for a whole request: its partial request's first byte, or
        its last activity if it has none; None while a request of it is served or its answer sent."""
        if self.requests or self.total_outbufs_len or self.will_close or self.close_when_flushed:
            return None
        return self.request.started if self.request is not None else self.last_activity


class _Server(TcpWSGIServer):
    """waitress's server with a deadline for each request (``request_timeout_s`` from its first byte) and,
    at the connection limit, the longest-waiting connection closed for each new one."""

    channel_class = _Channel

    def __init__(self, application: Flask, sock: socket.socket, adj: Adjustments, request_timeout_s: float):
        self.request_timeout_s = request_timeout_s
        sockinfo = (sock.family, sock.type, sock.proto, sock.getsockname())
        super().__init__(application, _sock=sock, adj=adj, bind_socket=False, sockinfo=sockinfo)

    def _longest_waiting(self) -> _Channel | None:
        waiting = [(since, channel) for channel in self.active_channels.values()
                   if (since := channel.waiting_since()) is not None]
        return min(waiting, key=lambda pair: pair[0])[1] if waiting else None

    def maintenance(self, now: float) -> None:
        """Close idle connections (waitress) and those whose request is not whole by its deadline."""
        super().maintenance(now)
        for channel in self.active_channels.values():
            since = channel.waiting_since()
            if channel.request is not None and since is not None and since < now - self.request_timeout_s:
                channel.will_close = True

    def readable(self) -> bool:
        """Accept while under the connection limit, or at it while some connection waits for a request."""
        now = time.time()
        if now >= self.next_channel_cleanup:
            self.next_channel_cleanup = now + self.adj.cleanup_interval
            self.maintenance(now)
        under_limit = len(self._map) < self.adj.connection_limit
        return self.accepting and (under_limit or self._longest_waiting() is not None)

    def handle_accept(self) -> None:
        """Accept a connection; over the limit, close the longest-waiting one for it (after the accept, so
        that the new socket cannot take the closed one's file descriptor in this round of the loop)."""
        victim = self._longest_waiting() if len(self._map) >= self.adj.connection_limit else None
        super().handle_accept()
        if victim is not None and len(self._map) > self.adj.connection_limit:
            victim.handle_close()


class ListenError(OSError):
    """The site cannot listen on the address asked for (in use, or not this machine's)."""


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to (the first address of) ``host`` and ``port``; ListenError naming them if not."""
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, socket.AF_UNSPEC, socket.SOCK_STREAM, socket.IPPROTO_TCP, socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
    except OSError as err:
        sock.close()
        raise ListenError(f"cannot listen on {shown}: {err.strerror or err} (choose another --port or "
                          "--host)") from err
    return sock


def make_server(host: str = "127.0.0.1", port: int = 3000, split: str = "test", data: str | None = None, *,
                threads: int = 4, idle_timeout_s: int = IDLE_TIMEOUT_S, max_sessions: int = MAX_SESSIONS,
                session_ttl_s: float = SESSION_TTL_S, request_timeout_s: float = REQUEST_TIMEOUT_S,
                connection_limit: int = CONNECTION_LIMIT) -> _Server:
    """A ready waitress server for the engine of ``data``: ``run()`` serves until ``close()``; ``port=0``
    takes any free port (``effective_port`` says which). ``idle_timeout_s``: a connection that sends
    nothing for that long (e.g. a body shorter than its Content-Length) is closed; ``request_timeout_s``
    and ``connection_limit``: see the module docstring. ValueError for a bad host, port or thread count,
    ListenError when the address cannot be had (checked before the engine is loaded)."""
    _check_listen(host, port, threads, lowest_port=0, flag="")
    sock = _listen(host, port)
    try:
        engine = WebShopEngine.for_data(data)
        site = WebShopSite(engine, split, max_sessions=max_sessions, ttl_s=session_ttl_s)
        adj = Adjustments(
            sockets=[sock], threads=threads, channel_timeout=idle_timeout_s, cleanup_interval=1,
            connection_limit=connection_limit, max_request_body_size=MAX_BODY_BYTES,
            ident="agentdistill-webshop", clear_untrusted_proxy_headers=True,
        )
        return _Server(create_app(site), sock, adj, request_timeout_s)
    except BaseException:
        sock.close()
        raise


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted; 2 with one line when the address cannot be had (a busy port)."""
    try:
        server = make_server(args.host, args.port, args.split, getattr(args, "data", None),
                             threads=getattr(args, "threads", 4))
    except ListenError as err:
        print(f"agentdistill serve: error: {err}", file=sys.stderr)
        return 2
    print(f"WebShop on http://{server.effective_host}:{server.effective_port}/  "
          f"(Ctrl-C to stop; /fixed_<n> opens goal n of the {args.split} split)")
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0
