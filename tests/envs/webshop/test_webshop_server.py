"""The website: same engine, real HTTP on loopback; hostile requests are escaped, refused or timed out."""
from __future__ import annotations

import argparse
import http.client
import socket
import threading
import time
import urllib.parse

import pytest

from envs.webshop.engine import WebShopEngine
from envs.webshop.server import WebShopSite, add_arguments, make_server

IDLE_TIMEOUT_S = 1


@pytest.fixture(scope="module")
def site():
    """The site on a free port, with one worker thread and a 1 s idle timeout."""
    server = make_server("127.0.0.1", 0, "test", threads=1, idle_timeout_s=IDLE_TIMEOUT_S)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield server.effective_port
    server.close()
    thread.join(timeout=5)
    assert not thread.is_alive()


def _request(port, method, path, body=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
    connection.request(method, path, body=urllib.parse.urlencode(body) if body else None, headers=headers)
    response = connection.getresponse()
    text = response.read().decode()
    connection.close()
    return response.status, response.getheader("Location"), text


def _raw(port: int, data: bytes) -> bytes:
    """Send ``data`` as is and read the answer until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_search_and_item_page_over_http(site):
    status, _, html = _request(site, "GET", "/fixed_0")
    assert status == 200 and 'id="search_input"' in html and "Instruction:" in html
    status, location, _ = _request(site, "POST", "/fixed_0/search", {"search_query": "running shoes"})
    assert status == 303 and location == "/fixed_0"
    status, _, html = _request(site, "GET", "/fixed_0")
    assert "Page 1 (Total results:" in html and 'class="product-link"' in html
    asin = html.split('class="product-link" href="/fixed_0/click?label=')[1].split('"')[0]
    status, _, _ = _request(site, "GET", f"/fixed_0/click?label={asin}")
    assert status == 303
    status, _, html = _request(site, "GET", "/fixed_0")
    assert "Buy Now" in html and "Price:" in html
    status, _, html = _request(site, "POST", "/fixed_0/click", {"label": "not a button"})
    assert status == 400 and "not clickable" in html and 'href="/fixed_0"' in html


def test_new_sessions_and_unknown_ones(site):
    status, location, _ = _request(site, "GET", "/")
    assert status == 303 and location.startswith("/")
    assert _request(site, "GET", location)[0] == 200
    status, _, html = _request(site, "GET", "/no_such_session")
    assert status == 404 and "No session &#39;no_such_session&#39;" in html
    status, _, html = _request(site, "GET", "/fixed_99999")
    assert status == 404 and "no goal 99999" in html


@pytest.mark.parametrize(("path", "raw", "escaped"), [
    ("/fixed_0/click?label=" + urllib.parse.quote("<script>alert(1)</script>"), "<script>",
     "&#39;&lt;script&gt;alert(1)&lt;/script&gt;&#39; is not clickable"),
    ("/" + urllib.parse.quote("<script>alert(1)</script>", safe="/"), "<script>",
     "&lt;script&gt;alert(1)&lt;"),
    ("/fixed_0/" + urllib.parse.quote("<img src=x onerror=alert(1)>"), "<img",
     "Unknown page &#39;&lt;img src=x onerror=alert(1)&gt;&#39;"),
    ("/" + urllib.parse.quote('"><svg onload=alert(1)>'), "<svg", "&#34;&gt;&lt;svg onload=alert(1)&gt;"),
])
def test_request_text_is_escaped_in_every_error_page(site, path, raw, escaped):
    connection = http.client.HTTPConnection("127.0.0.1", site, timeout=10)
    connection.request("GET", path)
    response = connection.getresponse()
    html = response.read().decode()
    connection.close()
    assert response.status in (400, 404)
    assert raw not in html and escaped in html
    assert response.getheader("Content-Type") == "text/html; charset=utf-8"
    assert "default-src 'none'" in response.getheader("Content-Security-Policy")


def test_a_posted_label_is_escaped_too(site):
    status, _, html = _request(site, "POST", "/fixed_0/click", {"label": "<b onmouseover=alert(1)>x</b>"})
    assert status == 400 and "<b " not in html and "&lt;b onmouseover=alert(1)&gt;x&lt;/b&gt;" in html


def test_malformed_requests_are_400_not_a_crash(site):
    post = b"POST /fixed_0/search HTTP/1.1\r\nHost: x\r\n"
    bad_length = _raw(site, post + b"Content-Length: abc\r\n\r\nsearch_query=x")
    assert bad_length.startswith(b"HTTP/1.1 400")
    long_goal = _raw(site, b"GET /fixed_" + b"9" * 5000
                     + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert long_goal.startswith(b"HTTP/1.1 400") and b"goal number of 5000 digits" in long_goal
    too_big = _raw(site, post + b"Content-Length: 20000\r\n\r\n")
    assert too_big.startswith(b"HTTP/1.1 413")
    assert _request(site, "GET", "/fixed_0")[0] == 200  # the server is still up


def test_a_short_body_or_an_idle_client_holds_no_thread_and_is_dropped(site):
    short = socket.create_connection(("127.0.0.1", site), timeout=10)
    short.sendall(b"POST /fixed_0/search HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nsearch_query=")
    idle = socket.create_connection(("127.0.0.1", site), timeout=10)
    began = time.monotonic()
    # the site has one worker thread: it still answers while both connections hang
    assert _request(site, "GET", "/fixed_0")[0] == 200
    assert time.monotonic() - began < 1
    for sock in (short, idle):
        assert sock.recv(100) == b""  # closed by the server
        sock.close()
    assert time.monotonic() - began < 4 * IDLE_TIMEOUT_S


def test_sessions_are_bounded_and_expire():
    site = WebShopSite(WebShopEngine.for_data(None), "test", max_sessions=2, ttl_s=0.5)
    first, second = site.new_session(), site.new_session()
    site.get(first.id)  # used last: the least recently used one is `second`
    third = site.new_session()
    assert site.get(second.id) is None
    assert site.get(first.id) is first and site.get(third.id) is third
    time.sleep(0.6)
    assert site.get(first.id) is None and site.get(third.id) is None
    assert site.get("fixed_0").id == "fixed_0"  # fixed sessions are started again on demand


def test_cli_arguments():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["webshop"])
    options = (args.env, args.port, args.host, args.split, args.threads)
    assert options == ("webshop", 3000, "127.0.0.1", "test", 4)
    with pytest.raises(SystemExit):
        parser.parse_args(["alfworld"])
