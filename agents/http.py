"""The HTTP agent: an OpenAI-compatible server (vLLM, llama.cpp server, a hosted API) as the policy.

    agents.make("http", env="hotpotqa", base_url="http://127.0.0.1:8000/v1", model="Qwen2.5-7B-Instruct")

Options fall back to environment variables: ``AGENTDISTILL_HTTP_BASE_URL`` (or ``OPENAI_BASE_URL``),
``AGENTDISTILL_HTTP_MODEL``, ``AGENTDISTILL_HTTP_API_KEY`` (or ``OPENAI_API_KEY``). The key is sent
as a Bearer header only; it is never logged or printed, and is masked in every error message (also
where a server quotes the request back in its error body), as is a password in ``base_url``.

``api="chat"`` posts the ReAct prompt (``agents.react.build_prompt``) as one user message to
``/chat/completions``; ``api="completions"`` posts it as a raw prompt to ``/completions``. The reply
is cut at the end of its ``Action:`` line and lone surrogates in it are replaced (U+FFFD).

Bounded replies: the body is streamed and decoded (``Content-Encoding`` gzip or deflate) a piece of at
most 64 KiB at a time and counted as it is decoded, so a server that streams without end or sends a gzip
bomb costs at most ``max_reply_bytes`` (default 4 MiB: a completion of 16K characters is at most ~200 KB
of JSON even with every character escaped, so a genuine reply is far below it; 8 requests in flight hold
at most 32 MiB). A turn's text (the completion cut after its ``Action:`` line) longer than
``max_completion_chars`` (default 16,384: ~4K tokens, far above the ``max_tokens`` a thought and one
action line need) is refused before it reaches the episode log, which a later ``train`` reads. Either
fails only its episode, with one line naming the limit and its option.

Failures: each attempt has a total deadline of ``timeout_s`` (connect, send, wait and read together, so a
server that drips its answer byte by byte cannot hold a request longer); connection errors, timeouts,
429 and 5xx are retried with exponential backoff (``retries`` times), then raise :class:`HTTPError`;
other HTTP errors raise it at once with the server's message. A reply that is not an OpenAI completion
or whose content is not text (``null``, a number) fails only its episode: :class:`ReplyError`, gathered
per batch into :class:`agents.errors.TurnErrors`. A batch is sent as concurrent requests (``concurrency``).
"""
from __future__ import annotations

import asyncio
import json
import os
import time
import zlib
from collections.abc import AsyncIterator, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx

from agents.base import Agent, AgentStep
from agents.errors import EpisodeError, TurnErrors
from agents.prompts import few_shot as env_few_shot
from agents.prompts import instructions as env_instructions
from agents.react import Turn, build_prompt, completion_end, parse
from agents.redact import redact_text, redact_url, url_secrets
from agents.text import sanitize_text

_RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}
_QUOTE_CHARS = 300  # how much of a server's answer an error message quotes
_QUOTE_BYTES = 64 * 1024  # how much of an error answer is read to quote from
MAX_REPLY_BYTES = 4 * 1024 * 1024
MAX_COMPLETION_CHARS = 16 * 1024
_PIECE_BYTES = 64 * 1024  # the most a compressed body is inflated by at once
#: Content-Encoding -> zlib wbits (32 + 15: a zlib or gzip header, detected)
_INFLATE = {"gzip": 47, "x-gzip": 47, "deflate": 47}
_ACCEPT_ENCODING = "gzip, deflate"
T = TypeVar("T")


class HTTPError(RuntimeError):
    """The server refused a request or stayed unreachable after the retries (ends the run)."""


class ReplyError(HTTPError, EpisodeError):
    """The server answered, but not with a completion's text (ends only that episode)."""


def _env_option(value: Any, *names: str) -> Any:
    if value not in (None, ""):
        return value
    return next((os.environ[n] for n in names if os.environ.get(n)), None)


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"http agent: {name} must be a whole number >= 1, got {value!r}")
    return value


async def _decoded(response: httpx.Response, shown: str) -> AsyncIterator[bytes]:
    """The body of ``response`` decoded (Content-Encoding identity, gzip or deflate) in pieces of at most
    64 KiB, so that a small compressed body that inflates to gigabytes is never held whole."""
    encodings = [e.strip().lower() for e in response.headers.get("Content-Encoding", "").split(",")]
    encodings = [e for e in encodings if e not in ("", "identity")]
    if not encodings:
        async for raw in response.aiter_raw():
            yield raw
        return
    if len(encodings) > 1 or encodings[0] not in _INFLATE:
        raise ReplyError(f"{shown} answered a body in Content-Encoding {', '.join(encodings)!r}; expected "
                         f"one of {', '.join(_INFLATE)} or identity (Accept-Encoding: {_ACCEPT_ENCODING})")
    inflate = zlib.decompressobj(_INFLATE[encodings[0]])
    try:
        async for raw in response.aiter_raw():
            data = raw
            while not inflate.eof:
                piece = inflate.decompress(data, _PIECE_BYTES)
                data = inflate.unconsumed_tail
                if piece:
                    yield piece
                if not data and len(piece) < _PIECE_BYTES:  # a full piece may leave output pending
                    break
    except zlib.error as err:
        raise ReplyError(f"{shown} answered a body that is not valid {encodings[0]}: {err}") from None


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to the end from synchronous code, also where an event loop is running (Jupyter)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


class HTTPAgent(Agent):
    """ReAct turns from an OpenAI-compatible chat/completions endpoint (see the module docstring)."""

    description = "an OpenAI-compatible chat/completions server (vLLM, llama.cpp, an API)"
    batched = True  # concurrent requests

    def __init__(
        self,
        env: str = "",
        *,
        base_url: str | None = None,
        model: str | None = None,
        api_key: str | None = None,
        api: str = "chat",
        max_tokens: int = 256,
        temperature: float = 0.0,
        top_p: float = 1.0,
        timeout_s: float = 60.0,
        retries: int = 4,
        backoff_s: float = 1.0,
        few_shot: int = 0,
        max_prompt_tokens: int | None = 6000,
        concurrency: int = 8,
        log_topk: int = 0,
        max_reply_bytes: int = MAX_REPLY_BYTES,
        max_completion_chars: int = MAX_COMPLETION_CHARS,
    ):
        super().__init__()
        base_url = _env_option(base_url, "AGENTDISTILL_HTTP_BASE_URL", "OPENAI_BASE_URL")
        if not base_url:
            raise ValueError("http agent: no server; pass base_url=... or set AGENTDISTILL_HTTP_BASE_URL")
        if api not in ("chat", "completions"):
            raise ValueError(f"http agent: api must be 'chat' or 'completions', got {api!r}")
        if log_topk:
            raise ValueError("http agent: log_topk needs token ids, which OpenAI-compatible servers do not "
                             "return; use the lm agent to log a teacher's top-k")
        if not timeout_s > 0 or retries < 0 or backoff_s < 0 or concurrency < 1:
            raise ValueError("http agent: need timeout_s > 0, retries >= 0, backoff_s >= 0, "
                             f"concurrency >= 1; got {timeout_s}, {retries}, {backoff_s}, {concurrency}")
        self.max_reply_bytes = _positive_int("max_reply_bytes", max_reply_bytes)
        self.max_completion_chars = _positive_int("max_completion_chars", max_completion_chars)
        self.env = env
        self.base_url = str(base_url).rstrip("/")
        self.model = _env_option(model, "AGENTDISTILL_HTTP_MODEL") or "default"
        self._api_key = _env_option(api_key, "AGENTDISTILL_HTTP_API_KEY", "OPENAI_API_KEY")
        self.api = api
        self.max_tokens, self.temperature, self.top_p = max_tokens, temperature, top_p
        self.timeout_s, self.retries, self.backoff_s = timeout_s, retries, backoff_s
        self.max_prompt_tokens = max_prompt_tokens
        self.concurrency = concurrency
        self.instructions = env_instructions(env)
        self.few_shot = env_few_shot(env, few_shot)
        self.n_few_shot = few_shot
        #: slot -> few-shot examples chosen for its episode (ALFWorld: of the episode's task type)
        self._episode_few_shot: dict[int, list[str]] = {}

    def reset(self, info: dict[str, Any], slot: int = 0) -> None:
        super().reset(info, slot)
        self._episode_few_shot[slot] = env_few_shot(self.env, self.n_few_shot, info.get("task_type"))

    def __repr__(self) -> str:  # the key stays out of logs and tracebacks
        return f"HTTPAgent(base_url={redact_url(self.base_url)!r}, model={self.model!r}, api={self.api!r})"

    def _safe(self, message: str) -> str:
        """``message`` without the API key, the URL's password or the ``Basic`` token derived from it."""
        return redact_text(message, [self._api_key, *url_secrets(self.base_url)])

    def _quote(self, body: bytearray) -> str:
        return self._safe(body.decode("utf-8", "replace"))[:_QUOTE_CHARS]

    # --- one request ---------------------------------------------------------------------------------
    def _call(self, prompt: str) -> tuple[str, dict[str, Any], dict[str, str]]:
        """(url, JSON body, headers) of the request for ``prompt``."""
        if self.api == "chat":
            url = f"{self.base_url}/chat/completions"
            body: dict[str, Any] = {"messages": [{"role": "user", "content": prompt}]}
        else:
            url = f"{self.base_url}/completions"
            body = {"prompt": prompt}
        body.update(model=self.model, max_tokens=self.max_tokens, temperature=self.temperature,
                    top_p=self.top_p, stop=["\nObservation:"])
        headers = {"Accept-Encoding": _ACCEPT_ENCODING}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return url, body, headers

    async def _post(self, client: httpx.AsyncClient, url: str, body: dict[str, Any], headers: dict[str, str],
                    shown: str) -> tuple[int, bytearray, bool]:
        """(status, decoded body, whether that is all of it) of one POST. Reads at most
        ``max_reply_bytes`` of an HTTP 200 answer's body and ``_QUOTE_BYTES`` of an error's (nothing of
        one that will be retried), then closes the connection."""
        async with client.stream("POST", url, json=body, headers=headers) as response:
            status = response.status_code
            data = bytearray()
            if status in _RETRY_STATUS:
                return status, data, True
            limit = self.max_reply_bytes if status == 200 else _QUOTE_BYTES
            async for piece in _decoded(response, shown):
                data += piece
                if len(data) > limit:
                    del data[limit:]
                    return status, data, False
            return status, data, True

    async def _request(self, client: httpx.AsyncClient, gate: asyncio.Semaphore, prompt: str) -> str:
        """The server's completion text for ``prompt``, with retries and backoff; each attempt has a total
        deadline of ``timeout_s``."""
        url, body, headers = self._call(prompt)
        shown = redact_url(url)
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                async with gate, asyncio.timeout(self.timeout_s):
                    status, data, complete = await self._post(client, url, body, headers, shown)
            except TimeoutError:
                problem = f"no complete answer from {shown} within timeout_s={self.timeout_s:g} s"
                continue
            except httpx.HTTPError as err:
                problem = f"{type(err).__name__} contacting {shown}"
                continue
            if status in _RETRY_STATUS:
                problem = f"HTTP {status} from {shown}"
                continue
            if status != 200:
                raise HTTPError(self._safe(f"{shown} answered HTTP {status}: ") + self._quote(data))
            if not complete:
                raise ReplyError(self._safe(
                    f"{shown} answered a body of more than max_reply_bytes={self.max_reply_bytes} bytes "
                    "(decompressed); the http agent option max_reply_bytes sets the limit"))
            return self._completion_text(data, shown)
        raise HTTPError(self._safe(f"{problem}; gave up after {self.retries + 1} attempts"))

    def _completion_text(self, body: bytearray, shown: str) -> str:
        """The turn's text from the body of an HTTP 200 answer: its completion cut after the ``Action:``
        line; ReplyError when there is none or it is longer than ``max_completion_chars``."""
        field = "choices[0].message.content" if self.api == "chat" else "choices[0].text"
        try:
            choice = json.loads(body)["choices"][0]
            content = choice["message"]["content"] if self.api == "chat" else choice["text"]
        except (ValueError, KeyError, IndexError, TypeError, RecursionError):
            raise ReplyError(self._safe(f"{shown} answered something that is not an OpenAI completion "
                                        f"(no {field}): ") + self._quote(body)) from None
        if not isinstance(content, str):
            kind = "null" if content is None else type(content).__name__
            raise ReplyError(self._safe(f"{shown} answered a completion whose {field} is {kind}, not text: ")
                             + self._quote(body))
        reply = sanitize_text(content)
        stop = completion_end(reply + "\n")
        text = (reply if stop is None else (reply + "\n")[:stop]).strip()
        if len(text) > self.max_completion_chars:
            raise ReplyError(self._safe(f"{shown} answered a turn of {len(text)} characters, more than "
                                        f"max_completion_chars={self.max_completion_chars}; the http agent "
                                        "option max_completion_chars sets the limit"))
        return text

    async def _request_all(self, prompts: list[str]) -> list[str | BaseException]:
        gate = asyncio.Semaphore(self.concurrency)  # the deadline starts once a request may go out
        async with httpx.AsyncClient(timeout=self.timeout_s) as client:
            requests = (self._request(client, gate, p) for p in prompts)
            return await asyncio.gather(*requests, return_exceptions=True)

    # --- the agent -----------------------------------------------------------------------------------
    def act_batch(
        self,
        observations: Sequence[str],
        infos: Sequence[dict[str, Any]] | None = None,
        slots: Sequence[int] | None = None,
    ) -> list[AgentStep]:
        """One turn per (observation, slot); the batch goes out as concurrent requests. Raises HTTPError
        when the server fails, TurnErrors (with the other slots' steps) when some replies are not text."""
        slots = list(range(len(observations))) if slots is None else list(slots)
        prompts = []
        for obs, slot in zip(observations, slots, strict=True):
            episode = self._episode(slot)
            episode.observe(obs)
            prompts.append(build_prompt(episode.task, episode.first_observation or "", episode.turns,
                                        self.instructions, self._episode_few_shot.get(slot, self.few_shot),
                                        max_tokens=self.max_prompt_tokens))
        began = time.perf_counter()
        replies = _run(self._request_all(prompts))
        share = (time.perf_counter() - began) / max(1, len(prompts))
        for reply in replies:
            if isinstance(reply, BaseException) and not isinstance(reply, EpisodeError):
                raise reply
        steps: dict[int, AgentStep] = {}
        errors: dict[int, EpisodeError] = {}
        for slot, text in zip(slots, replies, strict=True):
            if isinstance(text, EpisodeError):
                errors[slot] = text
                continue
            parsed = parse(text)
            self._episode(slot).turns.append(Turn(thought=parsed.thought, action=parsed.action, text=text))
            steps[slot] = AgentStep(thought=parsed.thought, action=parsed.action, text=text, latency_s=share)
        if errors:
            raise TurnErrors(errors, steps)
        return [steps[slot] for slot in slots]
