"""The HTTP agent against a small OpenAI-compatible server started on 127.0.0.1 by the test."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

import agents
from agents.http import HTTPError

KEY = "sk-test-secret-123"


class FakeOpenAI(BaseHTTPRequestHandler):
    """Answers /v1/chat/completions and /v1/completions; the first request of each path gets a 503."""

    seen: ClassVar[list[dict]] = []
    failed_once: ClassVar[set[str]] = set()

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        if self.headers.get("Authorization") != f"Bearer {KEY}":
            return self._send(401, {"error": {"message": "bad key"}})
        if self.path not in type(self).failed_once:
            type(self).failed_once.add(self.path)
            return self._send(503, {"error": {"message": "warming up"}})
        prompt = body["messages"][0]["content"] if "messages" in body else body["prompt"]
        last = prompt.rstrip().splitlines()[-1]
        # a model that over-generates: the agent must cut after the Action line
        text = f"Thought: the last line was {last[:30]!r}.\nAction: search[{len(prompt)}]\nObservation: invented"
        if self.path.endswith("/chat/completions"):
            return self._send(200, {"choices": [{"message": {"role": "assistant", "content": text}}]})
        return self._send(200, {"choices": [{"text": text}]})

    def _send(self, status, payload):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}/v1"
    httpd.shutdown()


@pytest.mark.parametrize("api", ["chat", "completions"])
def test_http_agent_plays_turns_with_retries_and_cuts_after_the_action(server, api):
    agent = agents.make("http", env="hotpotqa", base_url=server, model="fake", api_key=KEY, api=api, backoff_s=0.01)
    for slot in range(3):
        agent.reset({"task": f"question {slot}"}, slot=slot)
    steps = agent.act_batch([f"obs {s}" for s in range(3)], [{}] * 3, slots=[0, 1, 2])
    for slot, step in enumerate(steps):
        assert step.action.startswith("search[") and step.text.endswith(step.action)
        assert "invented" not in step.text and step.thought
    second = agent.act("next obs", slot=0)  # the prompt grew by the first turn and its observation
    assert int(second.action[7:-1]) > int(steps[0].action[7:-1])
    requests_seen = [r for r in FakeOpenAI.seen if r["path"].endswith(f"/{'chat/' if api == 'chat' else ''}completions")]
    assert requests_seen[0]["body"]["model"] == "fake"
    assert KEY not in repr(agent)


def test_http_agent_reads_the_environment_and_reports_refusals_without_the_key(server, monkeypatch):
    monkeypatch.setenv("AGENTDISTILL_HTTP_BASE_URL", server)
    monkeypatch.setenv("AGENTDISTILL_HTTP_API_KEY", "wrong-key")
    agent = agents.make("http", env="webshop", retries=0)
    agent.reset({"task": "buy shoes"})
    with pytest.raises(HTTPError, match="HTTP 401") as err:
        agent.act("WebShop [Search]")
    assert "wrong-key" not in str(err.value)


def test_http_agent_gives_up_on_an_unreachable_server():
    agent = agents.make("http", base_url="http://127.0.0.1:9/v1", retries=1, backoff_s=0.01, timeout_s=1)
    agent.reset({"task": "t"})
    with pytest.raises(HTTPError, match="gave up after 2 attempts"):
        agent.act("o")
    with pytest.raises(ValueError, match="no server"):
        agents.make("http", base_url="")
