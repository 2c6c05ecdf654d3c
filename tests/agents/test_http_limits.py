"""The HTTP agent reads at most ``max_reply_bytes`` of a reply (decompressed) and logs no turn longer than
``max_completion_chars``: an endless stream, a gzip bomb or a huge completion fails only its episode."""
from __future__ import annotations

import gzip
import json
import struct
import threading
import time
import tracemalloc
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

import agents
from agents.errors import TurnErrors
from agents.http import ReplyError

MiB = 1024 * 1024
FINE = "Thought: fine.\nAction: search[x]"
LONG = "Thought: " + "very " * 4000 + "long.\nAction: search[x]"  # 20,032 characters


def _gzip_bomb(mib: int) -> bytes:
    """A gzip body of about ``mib`` KiB that inflates to ``mib`` MiB of zeros, built in milliseconds: after
    a full flush every MiB of zeros compresses to the same bytes. The trailer's checksum is left zero (a
    reader that stops at its limit never gets there)."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(MiB)
    first = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    again = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + first + again * (mib - 1) + deflate.flush() + struct.pack("<II", 0, (mib * MiB) % 2**32)


BOMB = _gzip_bomb(1000)  # ~1 MB that inflates to 1000 MiB
CHUNK = b"%x\r\n" % MiB + b"[" * MiB + b"\r\n"  # one chunk of a chunked reply: 1 MiB


def _completion(content: str) -> bytes:
    return json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()


class Hostile(BaseHTTPRequestHandler):
    """Answers by a mark in the prompt: ``@endless`` streams 1 MiB chunks (for at most 20 s), ``@bomb``
    sends a gzip bomb, ``@long`` a turn of 20,032 characters, ``@gzip`` and ``@deflate`` a fine compressed
    completion; any other prompt a fine completion. ``sent`` counts the chunks each endless stream got out."""

    protocol_version = "HTTP/1.1"
    sent: ClassVar[list[int]] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = body["messages"][0]["content"]
        try:
            if "@endless" in prompt:
                return self._endless()
            if "@bomb" in prompt:
                return self._send(BOMB, {"Content-Encoding": "gzip"})
            for encoding, compress in (("gzip", gzip.compress), ("deflate", zlib.compress)):
                if f"@{encoding}" in prompt:
                    padded = _completion(FINE) + b" " * 300_000  # inflated in several pieces
                    return self._send(compress(padded), {"Content-Encoding": encoding})
            return self._send(_completion(LONG if "@long" in prompt else "Action: search[x]"), {})
        except OSError:  # the agent hung up: what a bounded reader does
            self.close_connection = True

    def _endless(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        began, count = time.monotonic(), 0
        try:
            while time.monotonic() - began < 20:
                self.wfile.write(CHUNK)
                count += 1
        finally:
            type(self).sent.append(count)

    def _send(self, data: bytes, headers: dict[str, str]):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}/v1"
    httpd.shutdown()
    httpd.server_close()


def _failed_turn(agent, mark: str) -> tuple[str, float, int]:
    """Play one batch of three episodes where only the middle one's prompt has ``mark``: (that episode's
    error line, the seconds the batch took, the peak of Python memory meanwhile in bytes)."""
    for slot in range(3):
        agent.reset({"task": f"task {slot}"}, slot=slot)
    tracemalloc.start()
    began = time.monotonic()
    try:
        with pytest.raises(TurnErrors) as caught:
            agent.act_batch(["fine", f"{mark} please", "fine too"], [{}] * 3, slots=[0, 1, 2])
        took, peak = time.monotonic() - began, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    err = caught.value
    assert list(err.errors) == [1] and isinstance(err.errors[1], ReplyError)
    assert sorted(err.steps) == [0, 2] and err.steps[0].action == "search[x]"
    assert not agent.episodes[1].turns  # nothing of the refused reply is kept for the log
    message = str(err.errors[1])
    assert "\n" not in message and len(message) < 300
    return message, took, peak


def test_defaults():
    agent = agents.make("http", base_url="http://127.0.0.1:9/v1")
    assert (agent.max_reply_bytes, agent.max_completion_chars) == (4 * MiB, 16 * 1024)


def test_an_endless_stream_is_cut_at_max_reply_bytes(server):
    agent = agents.make("http", env="webshop", base_url=server, retries=0, timeout_s=15,
                        max_reply_bytes=2 * MiB)
    Hostile.sent.clear()
    message, took, peak = _failed_turn(agent, "@endless")
    assert message.endswith("answered a body of more than max_reply_bytes=2097152 bytes (decompressed); "
                            "the http agent option max_reply_bytes sets the limit")
    assert took < 5 and peak < 8 * MiB, peak
    deadline = time.monotonic() + 5
    while not Hostile.sent and time.monotonic() < deadline:  # the server notices the hang-up
        time.sleep(0.05)
    assert Hostile.sent and Hostile.sent[0] < 32  # stopped after a few MiB, not at the 15 s timeout


def test_a_gzip_bomb_is_inflated_no_further_than_max_reply_bytes(server):
    assert len(BOMB) < 1.1 * MiB and zlib.decompressobj(31).decompress(BOMB, 10 * MiB) == bytes(10 * MiB)
    agent = agents.make("http", env="webshop", base_url=server, retries=0, timeout_s=15)
    message, took, peak = _failed_turn(agent, "@bomb")
    assert "answered a body of more than max_reply_bytes=4194304 bytes (decompressed)" in message
    assert took < 5 and peak < 12 * MiB, peak  # the limit and a 64 KiB piece, not 1000 MiB


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_a_compressed_reply_is_decoded(server, encoding):
    agent = agents.make("http", env="webshop", base_url=server, retries=0)
    agent.reset({"task": "t"})
    step = agent.act(f"@{encoding}")
    assert step.text == FINE and step.action == "search[x]"


def test_an_over_long_turn_fails_only_its_episode_and_is_not_kept(server):
    agent = agents.make("http", env="webshop", base_url=server, retries=0)
    message, _, _ = _failed_turn(agent, "@long")
    assert message.endswith("answered a turn of 20032 characters, more than max_completion_chars=16384; "
                            "the http agent option max_completion_chars sets the limit")
    assert "very" not in message
    wide = agents.make("http", env="webshop", base_url=server, retries=0, max_completion_chars=30_000)
    wide.reset({"task": "t"})
    assert wide.act("@long").text == LONG


@pytest.mark.parametrize("option", ["max_reply_bytes", "max_completion_chars"])
@pytest.mark.parametrize("value", [0, -1, 1.5, True, "4"])
def test_limits_must_be_positive_whole_numbers(option, value):
    with pytest.raises(ValueError, match=f"http agent: {option} must be a whole number >= 1, got {value!r}"):
        agents.make("http", base_url="http://127.0.0.1:9/v1", **{option: value})
