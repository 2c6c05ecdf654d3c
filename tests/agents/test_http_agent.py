"""The HTTP agent against a small OpenAI-compatible server started on 127.0.0.1 by the test."""
from __future__ import annotations

import asyncio
import json
import pickle
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

import agents
from agents.errors import EpisodeError, TurnErrors
from agents.http import HTTPError, ReplyError

KEY = "sk-test-secret-123"


class FakeOpenAI(BaseHTTPRequestHandler):
    """Answers /v1/chat/completions and /v1/completions; the first request of each path gets a 503."""

    seen: ClassVar[list[dict]] = []
    failed_once: ClassVar[set[str]] = set()

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        if body["model"] == "echo":  # a careless server that quotes the request headers in its error
            return self._send(400, {"error": {"message": "bad request", "headers": dict(self.headers)}})
        if self.headers.get("Authorization") != f"Bearer {KEY}":
            return self._send(401, {"error": {"message": "bad key"}})
        prompt = body["messages"][0]["content"] if "messages" in body else body["prompt"]
        if body["model"] == "odd":  # odd replies: a prompt that mentions one gets it
            content = next((reply for word, reply in ODD_REPLIES.items() if word in prompt), FINE)
            message = {"role": "assistant", "content": content}
            return self._send(200, {"choices": [{"message": message, "text": content}]})
        if self.path not in type(self).failed_once:
            type(self).failed_once.add(self.path)
            return self._send(503, {"error": {"message": "warming up"}})
        last = prompt.rstrip().splitlines()[-1]
        # a model that over-generates: the agent must cut after the Action line
        text = (f"Thought: the last line was {last[:30]!r}.\nAction: search[{len(prompt)}]\n"
                "Observation: invented")
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


#: prompt word -> what the "odd" model answers
FINE = "Action: search[x]"
ODD_REPLIES = {"null": None, "number": 42, "list": [FINE],
               "surrogate": "Thought: \ud800 odd\nAction: go[\udfff]"}


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}/v1"
    httpd.shutdown()


@pytest.mark.parametrize("api", ["chat", "completions"])
def test_http_agent_plays_turns_with_retries_and_cuts_after_the_action(server, api):
    agent = agents.make("http", env="hotpotqa", base_url=server, model="fake", api_key=KEY, api=api,
                        backoff_s=0.01)
    for slot in range(3):
        agent.reset({"task": f"question {slot}"}, slot=slot)
    steps = agent.act_batch([f"obs {s}" for s in range(3)], [{}] * 3, slots=[0, 1, 2])
    for step in steps:
        assert step.action.startswith("search[") and step.text.endswith(step.action)
        assert "invented" not in step.text and step.thought
    second = agent.act("next obs", slot=0)  # the prompt grew by the first turn and its observation
    assert int(second.action[7:-1]) > int(steps[0].action[7:-1])
    path = f"/{'chat/' if api == 'chat' else ''}completions"
    requests_seen = [r for r in FakeOpenAI.seen if r["path"].endswith(path)]
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


@pytest.mark.parametrize(("word", "kind"), [("null", "null"), ("number", "int"), ("list", "list")])
@pytest.mark.parametrize("api", ["chat", "completions"])
def test_a_reply_that_is_not_text_fails_only_its_episode(server, api, word, kind):
    agent = agents.make("http", env="webshop", base_url=server, model="odd", api_key=KEY, api=api, retries=0)
    for slot in range(3):
        agent.reset({"task": f"task {slot}"}, slot=slot)
    with pytest.raises(TurnErrors) as caught:
        agent.act_batch(["fine", f"a {word} please", "fine too"], [{}] * 3, slots=[0, 1, 2])
    err = caught.value
    field = "message.content" if api == "chat" else "text"
    assert list(err.errors) == [1] and isinstance(err.errors[1], ReplyError)
    assert f"completion whose choices[0].{field} is {kind}, not text" in str(err.errors[1])
    assert "episode in slot 1" in str(err)
    assert sorted(err.steps) == [0, 2] and err.steps[0].action == "search[x]"
    assert len(agent.episodes[0].turns) == 1 and not agent.episodes[1].turns
    copy = pickle.loads(pickle.dumps(err))  # crosses process boundaries (Ray) intact
    assert isinstance(copy, EpisodeError) and list(copy.errors) == [1] and copy.steps[2].action == "search[x]"
    with pytest.raises(TurnErrors, match=f"is {kind}, not text"):  # one episode alone: the same error
        agent.act(f"{word} again", slot=1)


def test_lone_surrogates_in_a_reply_are_replaced(server):
    agent = agents.make("http", env="webshop", base_url=server, model="odd", api_key=KEY, retries=0)
    agent.reset({"task": "t"})
    step = agent.act("surrogate")
    assert step.text == "Thought: \ufffd odd\nAction: go[\ufffd]" and step.action == "go[\ufffd]"
    step.text.encode("utf-8")  # what an Arrow writer needs


def test_the_key_is_masked_when_a_server_echoes_the_request(server):
    agent = agents.make("http", base_url=server, model="echo", api_key=KEY, retries=0)
    agent.reset({"task": "t"})
    with pytest.raises(HTTPError, match="HTTP 400") as err:
        agent.act("o")
    assert KEY not in str(err.value) and "Bearer [REDACTED]" in str(err.value)


def test_a_password_in_the_base_url_is_masked():
    agent = agents.make("http", base_url="http://user:hunter2-pw@127.0.0.1:9/v1", retries=0, timeout_s=1)
    agent.reset({"task": "t"})
    assert "hunter2-pw" not in repr(agent)
    with pytest.raises(HTTPError, match="gave up after 1 attempts") as err:
        agent.act("o")
    assert "hunter2-pw" not in str(err.value) and "user:[REDACTED]@127.0.0.1:9" in str(err.value)


@pytest.fixture()
def dripping_server():
    """A server that answers one byte every 0.5 s (for up to 30 s): each read is quick, the whole is not."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)
                for byte in b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" * 20:
                    if stop.wait(0.5):
                        break
                    try:
                        conn.sendall(bytes([byte]))
                    except OSError:
                        break

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    stop.set()
    thread.join(timeout=5)
    listener.close()


def test_a_dripping_server_cannot_hold_a_request_past_its_deadline(dripping_server):
    agent = agents.make("http", base_url=dripping_server, timeout_s=1, retries=0)
    agent.reset({"task": "t"})
    began = time.monotonic()
    with pytest.raises(HTTPError, match=r"no complete answer .* within timeout_s=1 s; gave up after 1 "):
        agent.act("o")
    assert time.monotonic() - began < 2.0


def test_the_agent_also_works_where_an_event_loop_is_running(server):  # e.g. in a notebook
    agent = agents.make("http", env="webshop", base_url=server, model="odd", api_key=KEY, retries=0)
    agent.reset({"task": "t"})

    async def inside_a_loop():
        return agent.act("fine")

    assert asyncio.run(inside_a_loop()).action == "search[x]"
