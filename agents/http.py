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

A served teacher with exact ids (``api="completions"``, ``tokenizer=DIR``: a local copy of the served model's
tokenizer): the prompt goes out as token ids, built by :func:`agents.prompt_ids.episode_prompt_ids` exactly as
the LM agent builds its own (each earlier turn as the ids the server generated), with ``logprobs=log_topk``
and ``return_tokens_as_token_ids: true``; every step logs ``token_ids``, ``topk_ids`` and ``topk_logprobs``
(one k-list per generated token), ``n_dropped_turns`` and ``prompt_tokens`` as the LM agent does, so
``distill.data`` reads them unchanged. The generated ids are cut where the LM agent stops (at EOS, or at the
token whose text completes the turn: :func:`agents.lm.turn_end`) and the turn's text is their decoding by
the local tokenizer, so the text and the ids always agree (no re-tokenisation). Top-k are the entries of
each ``top_logprobs`` map with the k largest log-probabilities (vLLM adds the sampled token's entry: k or k+1
entries); vLLM computes them from the model's raw logits (``--logprobs-mode`` raw_logprobs, the default in
``vllm/v1/sample/sampler.py``), the temperature-1 distribution the LM agent logs.

Checked once, before the first turn: the server's ``POST /tokenize`` (at the server root, beside ``/v1``) of a
probe text must give the local tokenizer's ids, and a one-token completion must come back with ids and k
log-probs. A k above the server's cap (vLLM answers HTTP 400 "Requested sample logprobs of K, which is greater
than max allowed: N") is refused naming ``--max-logprobs``; an answer without ``token_id:N`` tokens ends the
run with one line, never a fallback to text. The request and answer follow vLLM's protocol definitions:
``vllm/entrypoints/openai/completion/protocol.py`` (``CompletionRequest``: ``prompt`` as ``list[int]``,
``logprobs: int``, ``return_tokens_as_token_ids``; ``CompletionLogProbs``: ``tokens``, ``top_logprobs``,
``token_logprobs``, ``text_offset``), ``vllm/entrypoints/openai/completion/serving.py``
(``OpenAIServingCompletion._create_completion_logprobs``: ``"token_id:{id}"`` keys, the sampled token first,
log-probs clipped at -9999), ``vllm/v1/engine/processor.py`` (the ``max_logprobs`` check) and
``vllm/entrypoints/serve/tokenize/{api_router,protocol}.py`` (``POST /tokenize`` at the server root:
``TokenizeCompletionRequest`` ``{"model", "prompt"}``, special tokens added by default -> ``TokenizeResponse``
``{"count", "max_model_len", "tokens"}``). SGLang's native ``/generate`` (``return_logprob``,
``top_logprobs_num``: ``python/sglang/srt/managers/io_struct.py``) answers in another shape and is not spoken
here.
"""
from __future__ import annotations

import asyncio
import json
import os
import time
import zlib
from collections.abc import AsyncIterator, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from agents.base import Agent, AgentStep
from agents.errors import EpisodeError, TurnErrors
from agents.prompt_ids import episode_prompt_ids
from agents.prompts import few_shot as env_few_shot
from agents.prompts import instructions as env_instructions
from agents.react import Turn, build_prompt, completion_end, parse
from agents.redact import redact_text, redact_url, url_secrets
from agents.spans import completion_masks_from_ids
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
DEFAULT_TOPK = 20  # log_topk=True; vLLM's default --max-logprobs
#: the text tokenised by the local tokenizer and the server's /tokenize to check that they agree
TOKENIZER_PROBE = "Thought: check the tokenizer 12345.\nAction: search[Ünïcödé ✓ red shoes]\nObservation: ok"
_TOKEN_ID = "token_id:"
T = TypeVar("T")


class HTTPError(RuntimeError):
    """The server refused a request or stayed unreachable after the retries (ends the run)."""


class ReplyError(HTTPError, EpisodeError):
    """The server answered, but not with a completion's text (ends only that episode)."""


@dataclass
class _Served:
    """One turn from a served teacher: its generated ids (cut where the LM agent stops), their top-k and
    their text."""

    token_ids: list[int]
    topk_ids: list[list[int]]
    topk_logprobs: list[list[float]]
    text: str


def _token_id(token: Any) -> int | None:
    """The id in vLLM's ``"token_id:123"`` (``return_tokens_as_token_ids``), else None."""
    if isinstance(token, str) and token.startswith(_TOKEN_ID) and token[len(_TOKEN_ID):].isdigit():
        return int(token[len(_TOKEN_ID):])
    return None


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


def _load_tokenizer(directory: str) -> Any:
    """The tokenizer in ``directory`` (the served model's, copied here)."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(directory, trust_remote_code=False)
    except (OSError, ValueError) as err:
        raise ValueError(f"http agent: tokenizer={directory}: cannot load a tokenizer from it ({err}); "
                         "expected a local copy of the served model's tokenizer files") from None


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
        tokenizer: str | None = None,
    ):
        super().__init__()
        base_url = _env_option(base_url, "AGENTDISTILL_HTTP_BASE_URL", "OPENAI_BASE_URL")
        if not base_url:
            raise ValueError("http agent: no server; pass base_url=... or set AGENTDISTILL_HTTP_BASE_URL")
        if api not in ("chat", "completions"):
            raise ValueError(f"http agent: api must be 'chat' or 'completions', got {api!r}")
        if log_topk is True:
            log_topk = DEFAULT_TOPK
        if isinstance(log_topk, bool) or not isinstance(log_topk, int) or log_topk < 0:
            raise ValueError(f"http agent: log_topk must be a whole number >= 0, got {log_topk!r}")
        if log_topk and not tokenizer:
            raise ValueError("http agent: log_topk needs token ids: pass tokenizer=DIR (a local copy of the "
                             "served model's tokenizer) with api='completions' and a vLLM server")
        if tokenizer and api != "completions":
            raise ValueError(f"http agent: tokenizer={tokenizer} sends the prompt as token ids, which needs "
                             f"api='completions', got api={api!r}")
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
        self.log_topk = log_topk
        self.tokenizer_dir = str(tokenizer) if tokenizer else None
        self._tokenizer = _load_tokenizer(self.tokenizer_dir) if self.tokenizer_dir else None
        self._checked = False  # the server's tokenizer and log-probs, checked before the first turn
        #: slot -> the ids the server generated for each earlier turn (spliced back into the prompt)
        self._turn_ids: dict[int, list[list[int]]] = {}

    def reset(self, info: dict[str, Any], slot: int = 0) -> None:
        super().reset(info, slot)
        self._episode_few_shot[slot] = env_few_shot(self.env, self.n_few_shot, info.get("task_type"))
        self._turn_ids[slot] = []

    def __repr__(self) -> str:  # the key stays out of logs and tracebacks
        return f"HTTPAgent(base_url={redact_url(self.base_url)!r}, model={self.model!r}, api={self.api!r})"

    def _safe(self, message: str) -> str:
        """``message`` without the API key, the URL's password or the ``Basic`` token derived from it."""
        return redact_text(message, [self._api_key, *url_secrets(self.base_url)])

    def _quote(self, body: bytearray) -> str:
        return self._safe(body.decode("utf-8", "replace"))[:_QUOTE_CHARS]

    # --- one request ---------------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        headers = {"Accept-Encoding": _ACCEPT_ENCODING}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def _call(self, prompt: str | list[int]) -> tuple[str, dict[str, Any]]:
        """(url, JSON body) of the request for ``prompt`` (text, or token ids with ``tokenizer``)."""
        if self.api == "chat":
            url = f"{self.base_url}/chat/completions"
            body: dict[str, Any] = {"messages": [{"role": "user", "content": prompt}]}
        else:
            url = f"{self.base_url}/completions"
            body = {"prompt": prompt}
            if self._tokenizer is not None:
                body.update(logprobs=self.log_topk, return_tokens_as_token_ids=True)
        body.update(model=self.model, max_tokens=self.max_tokens, temperature=self.temperature,
                    top_p=self.top_p, stop=["\nObservation:"])
        return url, body

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

    async def _exchange(self, client: httpx.AsyncClient, gate: asyncio.Semaphore, url: str,
                        body: dict[str, Any]) -> bytearray:
        """The body of the server's HTTP 200 answer to ``body``, with retries and backoff; each attempt has
        a total deadline of ``timeout_s``."""
        shown, headers = redact_url(url), self._headers()
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
                quote = self._quote(data)
                hint = ""
                if self.log_topk and status == 400 and "logprobs" in quote.lower():
                    hint = (f"; log_topk={self.log_topk} asks for more log-probs than the server returns: "
                            "vLLM caps them at its --max-logprobs setting (default 20), so start it with "
                            f"--max-logprobs {self.log_topk} or lower log_topk")
                raise HTTPError(self._safe(f"{shown} answered HTTP {status}: ") + quote + hint)
            if not complete:
                raise ReplyError(self._safe(
                    f"{shown} answered a body of more than max_reply_bytes={self.max_reply_bytes} bytes "
                    "(decompressed); the http agent option max_reply_bytes sets the limit"))
            return data
        raise HTTPError(self._safe(f"{problem}; gave up after {self.retries + 1} attempts"))

    async def _request(self, client: httpx.AsyncClient, gate: asyncio.Semaphore,
                       prompt: str | list[int]) -> str | _Served:
        """The server's turn for ``prompt``: its text, or with ``tokenizer`` its ids and top-k."""
        url, body = self._call(prompt)
        data = await self._exchange(client, gate, url, body)
        if self._tokenizer is not None:
            return self._served(data, redact_url(url))
        return self._completion_text(data, redact_url(url))

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
        self._check_length(text, shown)
        return text

    def _check_length(self, text: str, shown: str) -> None:
        if len(text) > self.max_completion_chars:
            raise ReplyError(self._safe(f"{shown} answered a turn of {len(text)} characters, more than "
                                        f"max_completion_chars={self.max_completion_chars}; the http agent "
                                        "option max_completion_chars sets the limit"))

    # --- a served teacher's ids and top-k ------------------------------------------------------------
    def _served_tokens(self, body: bytearray, shown: str) -> tuple[list[int], list[list[int]],
                                                                    list[list[float]]]:
        """(generated ids, top-k ids, top-k log-probs) from vLLM's ``choices[0].logprobs``; HTTPError when
        the answer lacks ids or k log-probs (the server cannot serve this agent), ReplyError when it is not
        a completion at all."""
        try:
            logprobs = json.loads(body)["choices"][0]["logprobs"]
        except (ValueError, KeyError, IndexError, TypeError, RecursionError):
            raise ReplyError(self._safe(f"{shown} answered something that is not an OpenAI completion "
                                        "(no choices[0].logprobs): ") + self._quote(body)) from None
        need = ("the http agent with tokenizer= needs a server that returns generated token ids "
                "(vLLM: logprobs with return_tokens_as_token_ids)")
        tokens = logprobs.get("tokens") if isinstance(logprobs, dict) else None
        tops = logprobs.get("top_logprobs") if isinstance(logprobs, dict) else None
        if not isinstance(tokens, list) or not isinstance(tops, list) or len(tops) != len(tokens):
            raise HTTPError(self._safe(f"{shown} answered no choices[0].logprobs.tokens and top_logprobs of "
                                       f"one length; {need}: ") + self._quote(body))
        ids = [_token_id(t) for t in tokens]
        if None in ids:
            bad = tokens[ids.index(None)]
            raise HTTPError(self._safe(f"{shown} answered token {bad!r} where 'token_id:N' was asked for "
                                       f"(return_tokens_as_token_ids); {need}"))
        topk_ids: list[list[int]] = []
        topk_logprobs: list[list[float]] = []
        for position, top in enumerate(tops if self.log_topk else []):
            entries = [(_token_id(key), value) for key, value in top.items()] if isinstance(top, dict) else []
            if len(entries) < self.log_topk or any(
                i is None or isinstance(v, bool) or not isinstance(v, int | float) for i, v in entries
            ):
                raise HTTPError(self._safe(
                    f"{shown} answered top_logprobs[{position}] = {str(top)[:120]}; expected at least "
                    f"log_topk={self.log_topk} 'token_id:N': log-prob entries; {need}"))
            best = sorted(entries, key=lambda entry: -entry[1])[:self.log_topk]
            topk_ids.append([int(i) for i, _ in best])  # type: ignore[arg-type]
            topk_logprobs.append([float(v) for _, v in best])
        return [int(i) for i in ids], topk_ids, topk_logprobs  # type: ignore[arg-type]

    def _served(self, body: bytearray, shown: str) -> _Served:
        """The turn from a served teacher's answer, cut where the LM agent stops: before EOS, or at the
        first token whose text completes the turn (:func:`agents.lm.turn_end`)."""
        from agents.lm import ids_through, turn_end

        ids, topk_ids, topk_logprobs = self._served_tokens(body, shown)
        tokenizer = self._tokenizer
        eos = tokenizer.eos_token_id
        if eos is not None and eos in ids:
            ids = ids[:ids.index(eos)]
        text = tokenizer.decode(ids, skip_special_tokens=True)
        for n in range(1, len(ids) + 1):
            prefix = tokenizer.decode(ids[:n], skip_special_tokens=True)
            if turn_end(prefix) is not None:
                ids, text = ids[:n], prefix
                break
        stop = turn_end(text)
        if stop is not None:  # a self-written ``Observation:`` tail is not the turn's
            ids = ids[:ids_through(tokenizer, ids, stop)]
        text = sanitize_text(text if stop is None else text[:stop]).strip()
        self._check_length(text, shown)
        k = len(ids) if self.log_topk else 0
        return _Served(ids, topk_ids[:k], topk_logprobs[:k], text)

    async def _check_server(self, client: httpx.AsyncClient, gate: asyncio.Semaphore) -> None:
        """Before the first turn: the server's ``/tokenize`` of :data:`TOKENIZER_PROBE` equals the local
        tokenizer's ids, and a one-token completion comes back with ids and ``log_topk`` log-probs."""
        local = await self._check_tokenizer(client, gate, self._tokenizer,
                                            f"http agent: tokenizer={self.tokenizer_dir}")
        probe, body = self._call(local[:1] or [0])
        body["max_tokens"] = 1
        self._served_tokens(await self._exchange(client, gate, probe, body), redact_url(probe))

    async def _check_tokenizer(self, client: httpx.AsyncClient, gate: asyncio.Semaphore, tokenizer: Any,
                               name: str, hint: str = "pass the served model's own tokenizer directory"
                               ) -> list[int]:
        """The ids of :data:`TOKENIZER_PROBE` by ``tokenizer``, checked equal to the server's
        ``POST /tokenize`` of it; HTTPError naming the local tokenizer as ``name`` and saying ``hint`` when
        they differ."""
        root = self.base_url[:-len("/v1")] if self.base_url.endswith("/v1") else self.base_url
        url = f"{root}/tokenize"
        try:
            answer = json.loads(await self._exchange(client, gate, url, {"model": self.model,
                                                                         "prompt": TOKENIZER_PROBE}))
            served = answer["tokens"]
        except (ValueError, KeyError, TypeError, RecursionError):
            raise HTTPError(self._safe(f"{redact_url(url)} answered no 'tokens' list; the http agent with "
                                       "tokenizer= checks the local tokenizer against the server's (vLLM's "
                                       "POST /tokenize)")) from None
        local = list(tokenizer(TOKENIZER_PROBE)["input_ids"])
        if served != local:
            first = next((i for i, (a, b) in enumerate(zip(served, local, strict=False)) if a != b),
                         min(len(served), len(local)))
            raise HTTPError(self._safe(
                f"{name} differs from the server's: {redact_url(url)} "
                f"gives {len(served)} ids for the probe text, the local copy {len(local)}, first different "
                f"at {first}; {hint}"))
        return local

    async def _request_all(self, prompts: list[str] | list[list[int]]) -> list[str | _Served | BaseException]:
        gate = asyncio.Semaphore(self.concurrency)  # the deadline starts once a request may go out
        async with httpx.AsyncClient(timeout=self.timeout_s) as client:
            if self._tokenizer is not None and not self._checked:
                await self._check_server(client, gate)
                self._checked = True
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
        prompts: list[Any] = []
        contexts: list[tuple[int, int]] = []  # with tokenizer: (turns dropped, prompt tokens) per slot
        for obs, slot in zip(observations, slots, strict=True):
            episode = self._episode(slot)
            episode.observe(obs)
            few_shot = self._episode_few_shot.get(slot, self.few_shot)
            if self._tokenizer is not None:
                budget = self.max_prompt_tokens if self.max_prompt_tokens is not None else 2 ** 62
                ids, dropped = episode_prompt_ids(self._tokenizer, episode, self.instructions, few_shot,
                                                  self._turn_ids.get(slot, []), budget)
                prompts.append(ids)
                contexts.append((dropped, len(ids)))
            else:
                prompts.append(build_prompt(episode.task, episode.first_observation or "", episode.turns,
                                            self.instructions, few_shot, max_tokens=self.max_prompt_tokens))
        began = time.perf_counter()
        replies = _run(self._request_all(prompts))
        share = (time.perf_counter() - began) / max(1, len(prompts))
        for reply in replies:
            if isinstance(reply, BaseException) and not isinstance(reply, EpisodeError):
                raise reply
        steps: dict[int, AgentStep] = {}
        errors: dict[int, EpisodeError] = {}
        for i, (slot, reply) in enumerate(zip(slots, replies, strict=True)):
            if isinstance(reply, EpisodeError):
                errors[slot] = reply
                continue
            text = reply.text if isinstance(reply, _Served) else reply
            parsed = parse(text)
            self._episode(slot).turns.append(Turn(thought=parsed.thought, action=parsed.action, text=text))
            step = AgentStep(thought=parsed.thought, action=parsed.action, text=text, latency_s=share)
            if isinstance(reply, _Served):
                self._served_step(step, slot, reply, *contexts[i])
            steps[slot] = step
        if errors:
            raise TurnErrors(errors, steps)
        return [steps[slot] for slot in slots]

    def _served_step(self, step: AgentStep, slot: int, served: _Served, dropped: int,
                     prompt_tokens: int) -> None:
        """Fill ``step`` with what the LM agent logs of a turn; its ids go into later prompts."""
        self._turn_ids.setdefault(slot, []).append(list(served.token_ids))
        step.token_ids = list(served.token_ids)
        if self.log_topk:
            step.topk_ids, step.topk_logprobs = served.topk_ids, served.topk_logprobs
        if getattr(self._tokenizer, "is_fast", False):  # every generated id in one span, as training splits
            reason, act = completion_masks_from_ids(self._tokenizer, served.token_ids)
            step.n_reason_tokens, step.n_act_tokens = sum(reason), sum(act)
        step.n_dropped_turns, step.prompt_tokens = dropped, prompt_tokens
