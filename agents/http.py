"""The HTTP agent: an OpenAI-compatible server (vLLM, llama.cpp server, a hosted API) as the policy.

    agents.make("http", env="hotpotqa", base_url="http://127.0.0.1:8000/v1", model="Qwen2.5-7B-Instruct")

Options fall back to environment variables: ``AGENTDISTILL_HTTP_BASE_URL`` (or ``OPENAI_BASE_URL``),
``AGENTDISTILL_HTTP_MODEL``, ``AGENTDISTILL_HTTP_API_KEY`` (or ``OPENAI_API_KEY``). The key is sent
as a Bearer header only; it is never logged, printed or put in an error message.

``api="chat"`` posts the ReAct prompt (``agents.react.build_prompt``) as one user message to
``/chat/completions``; ``api="completions"`` posts it as a raw prompt to ``/completions``. The reply
is cut at the end of its ``Action:`` line. Connection errors, timeouts, 429 and 5xx are retried
with exponential backoff (``retries`` times); other HTTP errors fail at once with the server's message.
A batch is sent as concurrent requests.
"""
from __future__ import annotations

import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from agents.base import Agent, AgentStep
from agents.prompts import few_shot as env_few_shot
from agents.prompts import instructions as env_instructions
from agents.react import Turn, build_prompt, completion_end, parse

_RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


class HTTPError(RuntimeError):
    """The server refused a request or stayed unreachable after the retries."""


def _env_option(value: Any, *names: str) -> Any:
    if value not in (None, ""):
        return value
    return next((os.environ[n] for n in names if os.environ.get(n)), None)


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
            raise ValueError("http agent: log_topk needs token ids, which OpenAI-compatible servers do not return; "
                             "use the lm agent to log a teacher's top-k")
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
        self._session = requests.Session()

    def __repr__(self) -> str:  # the key stays out of logs and tracebacks
        return f"HTTPAgent(base_url={self.base_url!r}, model={self.model!r}, api={self.api!r})"

    def _request(self, prompt: str) -> str:
        """The server's completion text for ``prompt``, with retries and backoff."""
        if self.api == "chat":
            url = f"{self.base_url}/chat/completions"
            body: dict[str, Any] = {"messages": [{"role": "user", "content": prompt}]}
        else:
            url = f"{self.base_url}/completions"
            body = {"prompt": prompt}
        body.update(model=self.model, max_tokens=self.max_tokens, temperature=self.temperature, top_p=self.top_p,
                    stop=["\nObservation:"])
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                response = self._session.post(url, json=body, headers=headers, timeout=self.timeout_s)
            except requests.RequestException as err:
                problem = f"{type(err).__name__} contacting {url}"
                continue
            if response.status_code in _RETRY_STATUS:
                problem = f"HTTP {response.status_code} from {url}"
                continue
            if response.status_code != 200:
                raise HTTPError(f"{url} answered HTTP {response.status_code}: {response.text[:300]}")
            try:
                choice = response.json()["choices"][0]
                return choice["message"]["content"] if self.api == "chat" else choice["text"]
            except (ValueError, KeyError, IndexError, TypeError):
                raise HTTPError(f"{url} answered something that is not an OpenAI completion: {response.text[:300]}") from None
        raise HTTPError(f"{problem}; gave up after {self.retries + 1} attempts")

    def act_batch(
        self,
        observations: Sequence[str],
        infos: Sequence[dict[str, Any]] | None = None,
        slots: Sequence[int] | None = None,
    ) -> list[AgentStep]:
        """One turn per (observation, slot); the batch goes out as concurrent requests."""
        slots = list(range(len(observations))) if slots is None else list(slots)
        prompts = []
        for obs, slot in zip(observations, slots):
            episode = self._episode(slot)
            episode.observe(obs)
            prompts.append(build_prompt(episode.task, episode.first_observation or "", episode.turns,
                                        self.instructions, self.few_shot, max_tokens=self.max_prompt_tokens))
        began = time.perf_counter()
        with ThreadPoolExecutor(max_workers=max(1, min(self.concurrency, len(prompts)))) as pool:
            replies = list(pool.map(self._request, prompts))
        share = (time.perf_counter() - began) / max(1, len(prompts))
        steps = []
        for slot, reply in zip(slots, replies):
            stop = completion_end(reply + "\n")
            text = (reply if stop is None else (reply + "\n")[:stop]).strip()
            parsed = parse(text)
            self._episode(slot).turns.append(Turn(thought=parsed.thought, action=parsed.action, text=text))
            steps.append(AgentStep(thought=parsed.thought, action=parsed.action, text=text, latency_s=share))
        return steps
