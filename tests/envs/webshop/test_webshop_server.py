"""The website: same engine, real HTTP on loopback."""
from __future__ import annotations

import argparse
import http.client
import threading
import urllib.parse

import pytest

from envs.webshop.server import add_arguments, make_server


@pytest.fixture(scope="module")
def site():
    server = make_server("127.0.0.1", 0, "test")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
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
    assert status == 400 and "not clickable" in html


def test_new_sessions_and_unknown_ones(site):
    status, location, _ = _request(site, "GET", "/")
    assert status == 303 and location.startswith("/")
    assert _request(site, "GET", location)[0] == 200
    assert _request(site, "GET", "/no_such_session")[0] == 404
    assert _request(site, "GET", "/fixed_99999")[0] == 404


def test_cli_arguments():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["webshop"])
    assert (args.env, args.port, args.host, args.split) == ("webshop", 3000, "127.0.0.1", "test")
    with pytest.raises(SystemExit):
        parser.parse_args(["alfworld"])
