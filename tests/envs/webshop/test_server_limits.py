"""The website under slow and greedy clients: slowloris, dripping requests, floods of new sessions; and
``agentdistill serve`` refusing bad options and a busy port with one line."""
from __future__ import annotations

import http.client
import select
import socket
import threading
import time
from contextlib import contextmanager

import pytest

from envs.webshop.engine import WebShopEngine
from envs.webshop.server import (
    NEW_SESSION_BURST,
    SessionAllowance,
    SessionCache,
    WebShopSite,
    make_server,
)
from harness.cli import main

REQUEST_TIMEOUT_S = 2


@contextmanager
def _serving(**options):
    server = make_server("127.0.0.1", 0, "test", threads=2, **options)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield server.effective_port
    finally:
        server.close()


@pytest.fixture(scope="module")
def site():
    """The site on a free port: 2 worker threads, the default connection limit (100), a 2 s deadline."""
    with _serving(request_timeout_s=REQUEST_TIMEOUT_S) as port:
        yield port


def _get(port: int, path: str, timeout: float = 5) -> tuple[int, float]:
    """(status, seconds it took) of ``GET path`` on a new connection."""
    began = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status, time.monotonic() - began
    finally:
        connection.close()


def _closed(sock: socket.socket) -> bool:
    """Whether the server has closed ``sock`` (it reads as the end of the stream, or a reset)."""
    if not select.select([sock], [], [], 0)[0]:
        return False
    try:
        return sock.recv(1024) == b""
    except OSError:
        return True


@contextmanager
def _slowloris(port: int, clients: int, every_s: float):
    """``clients`` connections, each sending a request line and then one header line every ``every_s``
    seconds, never the blank line that ends the headers; yields the sockets, closes them all after."""
    socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(clients)]
    stop = threading.Event()

    def drip():
        for sock in socks:
            sock.sendall(b"GET /fixed_0 HTTP/1.1\r\nHost: x\r\n")
        line = 0
        while not stop.wait(every_s):
            line += 1
            for sock in socks:
                try:
                    sock.sendall(b"X-Slow-%d: y\r\n" % line)
                except OSError:
                    continue  # closed by the server

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    try:
        yield socks
    finally:
        stop.set()
        thread.join(timeout=5)
        for sock in socks:
            sock.close()


def test_slowloris_does_not_stop_normal_requests():
    """110 connections that drip a header line every 0.5 s hold every place of the connection limit; a
    normal request is still answered at once (the longest-waiting dripper is closed for it), long before
    the default 10 s request deadline could help."""
    with _serving() as port, _slowloris(port, 110, every_s=0.5) as socks:
        time.sleep(0.7)  # all connected and dripping
        for _ in range(3):
            status, took = _get(port, "/fixed_0")
            assert status == 200 and took < 2
        closed = sum(_closed(sock) for sock in socks)
        assert closed >= 110 + 3 - 100  # what did not fit, and one for each normal request
        assert closed < 30  # and no more: the others still wait for their deadline


def test_a_dripping_request_is_closed_at_its_deadline_a_slow_one_in_time_is_answered(site):
    with _slowloris(site, 1, every_s=0.2) as (dripper,):
        slow = socket.create_connection(("127.0.0.1", site), timeout=5)
        for part in (b"GET /fixed_0 HTTP/1.1\r\n", b"Host: x\r\n", b"Connection: close\r\n", b"\r\n"):
            slow.sendall(part)  # whole after 0.9 s: inside the deadline
            time.sleep(0.3)
        assert slow.recv(100).startswith(b"HTTP/1.1 200")
        slow.close()
        began = time.monotonic()
        while not _closed(dripper) and time.monotonic() - began < 5:
            time.sleep(0.1)
        assert _closed(dripper)
        # closed between its deadline (2 s after its first byte, ~1.2 s ago) and a cleanup round later
        assert time.monotonic() - began < REQUEST_TIMEOUT_S + 1.5


def test_new_sessions_from_one_address_are_limited_over_http(site):
    statuses = [_get(site, "/new")[0] for _ in range(NEW_SESSION_BURST + 1)]
    assert statuses[:-1] == [303] * NEW_SESSION_BURST
    connection = http.client.HTTPConnection("127.0.0.1", site, timeout=5)
    connection.request("GET", "/new")
    response = connection.getresponse()
    html = response.read().decode()
    connection.close()
    assert statuses[-1] == response.status == 429
    assert "Too many new sessions from 127.0.0.1 (at most 30 at once, then one every 1 s)" in html
    assert _get(site, "/fixed_0")[0] == 200  # sessions already started are served as ever


def test_a_flood_of_new_sessions_evicts_fresh_sessions_not_those_in_use():
    site = WebShopSite(WebShopEngine.for_data(None), "test", max_sessions=10,
                       allowance=SessionAllowance(burst=10_000))
    shopper = site.new_session("10.0.0.1")
    site.act(shopper, "search", "shoes")  # a person is shopping in it
    untouched = site.new_session("10.0.0.2")
    for _ in range(1_000):
        site.new_session("10.0.0.3")
    assert site.get(shopper.id) is shopper
    assert site.get(untouched.id) is None
    assert len(site.sessions) == 10


def test_session_cache_evicts_the_least_recently_used_fresh_one_first_then_any():
    now = [0.0]
    cache = SessionCache(maxsize=3, ttl_s=100, clock=lambda: now[0])
    engine = WebShopEngine.for_data(None)
    a, b, c, d, e = (engine.start(name, 0) for name in "abcde")
    for session in (a, b, c):
        cache.add(session)
        now[0] += 1
    cache.acted("a")
    cache.get("b")  # b is now used more recently than c
    cache.add(d)  # evicts c: fresh and least recently used (a was acted in)
    assert [cache.get(x) for x in "abcd"] == [a, b, None, d]
    cache.acted("b")
    cache.acted("d")
    cache.add(e)  # e is the only fresh one; it is new, so the least recently used acted-in one goes: a
    assert cache.get("a") is None and len(cache) == 3
    now[0] += 101
    assert len(cache) == 0 and cache.get("e") is None


def test_session_allowance_is_a_bucket_per_address():
    now = [0.0]
    allowance = SessionAllowance(burst=3, every_s=10, max_clients=2, clock=lambda: now[0])
    assert [allowance.take("a") for _ in range(4)] == [0, 0, 0, 10]
    assert allowance.take("b") == 0  # another address has its own
    now[0] += 5
    assert allowance.take("a") == 5
    now[0] += 5
    assert allowance.take("a") == 0 and allowance.take("a") == 10
    allowance.take("c")  # a third address: the least recently seen (b) is forgotten
    assert list(allowance.buckets) == ["a", "c"]


@pytest.mark.parametrize(("argv", "line"), [
    (["--port", "70000"], "--port 70000: expected a whole number from 1 to 65535"),
    (["--port", "-1"], "--port -1: expected a whole number from 1 to 65535"),
    (["--port", "0"], "--port 0: expected a whole number from 1 to 65535"),
    (["--threads", "0"], "--threads 0: expected a whole number from 1 to 256"),
    (["--host", "no such host!"], "--host 'no such host!': expected an IP address or host name"),
    (["--host", "no-such-host.invalid"], "--host 'no-such-host.invalid': not an address this machine can "
                                         "listen on"),
])
def test_serve_refuses_bad_options_with_one_line(argv, line, capsys):
    assert main(["serve", "webshop", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"agentdistill serve: error: options: {line}") and err.count("\n") == 1


@pytest.mark.parametrize("value", [True, 1.5, "80", 70_000])
def test_make_server_refuses_a_port_that_is_not_a_whole_number_in_range(value):
    with pytest.raises(ValueError, match=r"^port .*: expected a whole number from 0 to 65535"):
        make_server(port=value)


def test_serve_on_a_busy_port_or_a_foreign_address_says_which_in_one_line(capsys):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        began = time.monotonic()
        assert main(["serve", "webshop", "--port", str(port)]) == 2
        assert time.monotonic() - began < 1  # refused before the engine is loaded
    err = capsys.readouterr().err
    assert err == (f"agentdistill serve: error: cannot listen on 127.0.0.1:{port}: Address already in use "
                   "(choose another --port or --host)\n")
    assert main(["serve", "webshop", "--host", "192.0.2.1"]) == 2  # TEST-NET-1: no machine's own address
    assert capsys.readouterr().err.startswith("agentdistill serve: error: cannot listen on 192.0.2.1:3000: ")
