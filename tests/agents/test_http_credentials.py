"""A password in ``base_url`` reaches the server as an ``Authorization: Basic`` header; a server that
echoes it back gets it masked in the error, as the password itself."""
from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import agents
from agents.http import HTTPError
from agents.redact import REDACTED, redact_text, url_secrets

PASSWORD = "hunter2-pw"
TOKEN = base64.b64encode(f"user:{PASSWORD}".encode()).decode()


class Echo(BaseHTTPRequestHandler):
    """A careless server: refuses every request quoting its headers back."""

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        data = json.dumps({"error": {"message": "bad request", "headers": dict(self.headers)}}).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def echo_port():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_port
    httpd.shutdown()
    httpd.server_close()


def test_the_basic_token_of_a_url_password_is_masked_when_echoed(echo_port):
    agent = agents.make("http", base_url=f"http://user:{PASSWORD}@127.0.0.1:{echo_port}/v1", retries=0)
    agent.reset({"task": "t"})
    with pytest.raises(HTTPError, match="HTTP 400") as err:
        agent.act("o")
    message = str(err.value)
    assert f"Basic {REDACTED}" in message  # the server did echo the header
    assert TOKEN not in message and PASSWORD not in message


def test_url_secrets_and_redact_text_derive_the_basic_token():
    assert url_secrets("http://plain.example.com/v1") == url_secrets(None) == []
    encoded = "http://b%C3%B6b:p%40ss-w%C3%B6rd@host/v1"  # böb / p@ss-wörd, percent-encoded
    forms = url_secrets(encoded)
    for userpass in ("böb:p@ss-wörd".encode(), "böb:p@ss-wörd".encode("latin-1")):
        assert base64.b64encode(userpass).decode() in forms
    assert {"p%40ss-w%C3%B6rd", "p@ss-wörd"} <= set(forms)
    echoed, masked = f'"Authorization": "Basic {TOKEN}"', f'"Authorization": "Basic {REDACTED}"'
    assert redact_text(echoed, url_secrets(f"http://user:{PASSWORD}@h/v1")) == masked
    # a URL in the message itself is enough: its password and its token go
    said = f"http://user:{PASSWORD}@h/v1 said {echoed}"
    assert redact_text(said) == f"http://user:{REDACTED}@h/v1 said {masked}"
