"""The HTTP agent: an OpenAI-compatible server (vLLM, llama.cpp server, a hosted API) as the policy.

    agents.make("http", env="hotpotqa", base_url="http://127.0.0.1:8000/v1", model="Qwen2.5-7B-Instruct")

Options fall back to environment variables: ``AGENTDISTILL_HTTP_BASE_URL`` (or ``OPENAI_BASE_URL``),
``AGENTDISTILL_HTTP_MODEL``, ``AGENTDISTILL_HTTP_API_KEY`` (or ``OPENAI_API_KEY``). The key is sent
as a Bearer header only; it is never logged or printed, and is masked in every error message (also
where a server quotes the request back in its error body), as is a password in ``base_url``.

``api="chat"`` posts the ReAct prompt (``agents.react.build_prompt``) as one user message to
``/chat/completions``; ``api="completions"`` posts it as a raw prompt to ``/completions``. The reply
is cut at the end of its ``Action:`` line and lone surrogates in it are replaced (U+FFFD).

Failures: each attempt has a total deadline of ``timeout_s`` (connect, send, wait and read together, so a
server that drips its answer byte by byte cannot hold a request longer); connection errors, timeouts,
429 and 5xx are retried with exponential backoff (``retries`` times), then raise :class:`HTTPError`;
other HTTP errors raise it at once with the server's message. A reply that is not an OpenAI completion
or whose content is not text (``null``, a number) fails only its episode: :class:`ReplyError`, gathered
per batch into :class:`agents.errors.TurnErrors`. A batch is sent as concurrent requests (``concurrency``).
"""
from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx

from agents.base import Agent, AgentStep
from agents.errors import EpisodeError, TurnErrors
from agents.prompts import few_shot as env_few_shot
from agents.prompts import instructions as env_instructions
from agents.react import Turn, build_prompt, completion_end, parse
from agents.redact import redact_text, redact_url
from agents.text import sanitize_text

_RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}
_QUOTE_CHARS = 300  # how much of a server's answer an error message quotes
T = TypeVar("T")


class HTTPError(RuntimeError):
    """The server refused a request or stayed unreachable after the retries (ends the run)."""


class ReplyError(HTTPError, EpisodeError):
    """The server answered, but not with a completion's text (ends only that episode)."""


def _env_option(value: Any, *names: str) -> Any:
    if value not in (None, ""):
        return value
    return next((os.environ[n] for n in names if os.environ.get(n)), None)


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
        """``message`` without the API key or a URL password."""
        return redact_text(message, [self._api_key])

    def _quote(self, response: httpx.Response) -> str:
        return self._safe(response.text)[:_QUOTE_CHARS]

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
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        return url, body, headers

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
                    response = await client.post(url, json=body, headers=headers)
            except TimeoutError:
                problem = f"no complete answer from {shown} within timeout_s={self.timeout_s:g} s"
                continue
            except httpx.HTTPError as err:
                problem = f"{type(err).__name__} contacting {shown}"
                continue
            if response.status_code in _RETRY_STATUS:
                problem = f"HTTP {response.status_code} from {shown}"
                continue
            if response.status_code != 200:
                status = self._safe(f"{shown} answered HTTP {response.status_code}: ")
                raise HTTPError(status + self._quote(response))
            return self._completion_text(response, shown)
        raise HTTPError(self._safe(f"{problem}; gave up after {self.retries + 1} attempts"))

    def _completion_text(self, response: httpx.Response, shown: str) -> str:
        """The completion's text from an HTTP 200 answer; ReplyError when there is none."""
        field = "choices[0].message.content" if self.api == "chat" else "choices[0].text"
        try:
            choice = response.json()["choices"][0]
            content = choice["message"]["content"] if self.api == "chat" else choice["text"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise ReplyError(self._safe(f"{shown} answered something that is not an OpenAI completion "
                                        f"(no {field}): ") + self._quote(response)) from None
        if not isinstance(content, str):
            kind = "null" if content is None else type(content).__name__
            raise ReplyError(self._safe(f"{shown} answered a completion whose {field} is {kind}, not text: ")
                             + self._quote(response))
        return sanitize_text(content)

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
        for slot, reply in zip(slots, replies, strict=True):
            if isinstance(reply, EpisodeError):
                errors[slot] = reply
                continue
            stop = completion_end(reply + "\n")
            text = (reply if stop is None else (reply + "\n")[:stop]).strip()
            parsed = parse(text)
            self._episode(slot).turns.append(Turn(thought=parsed.thought, action=parsed.action, text=text))
            steps[slot] = AgentStep(thought=parsed.thought, action=parsed.action, text=text, latency_s=share)
        if errors:
            raise TurnErrors(errors, steps)
        return [steps[slot] for slot in slots]
