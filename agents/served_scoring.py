"""On-policy scoring by a served teacher: the teacher's top-k next-token log-probs at given positions of
token-id sequences (the student's own episodes), from an OpenAI-compatible vLLM server's prompt log-probs.

    scorer = ServedScorer("http://127.0.0.1:8000/v1", tokenizer, k=20)
    topk = scorer.score([ids_1, ids_2, ...], [positions_1, positions_2, ...])
    # topk[i] = (ids, logprobs): for each position p of positions_i, the k most likely ids for token p given
    # ids_i[:p] and their log-probs, largest first (p >= 1)

One ``POST /v1/completions`` carries several sequences (``prompt`` as a list of id lists, at most
``tokens_per_request`` ids together unless one sequence alone is longer) with ``prompt_logprobs: k``,
``max_tokens: 1`` and ``temperature: 0``; up to ``concurrency`` such requests are in flight. Transport,
retries, deadlines, bounded replies and the masking of secrets are the HTTP agent's
(:class:`agents.http.HTTPAgent`); before the first request the server's ``POST /tokenize`` must give the local
tokenizer's ids (the student's: the teacher scores the student's ids, so they must share a tokenizer).

The request and answer follow vLLM's protocol definitions:
``vllm/entrypoints/openai/completion/protocol.py`` (``CompletionRequest.prompt_logprobs: int``; a prompt of
ids or a list of them; ``CompletionResponseChoice.prompt_logprobs: list[dict[int, Logprob] | None]``, one
entry per prompt token, ``None`` for the first, each dict keyed by the token id — a JSON string of digits —
holding the prompt's own token and the top k, so k or k+1 entries), ``vllm/logprobs.py`` (``Logprob``:
``logprob``, ``rank``, ``decoded_token``), ``vllm/entrypoints/openai/completion/serving.py``
(``request_output_to_completion_response``: one choice per prompt, in prompt order, log-probs of -inf clipped
at -9999 by ``clamp_prompt_logprobs`` in ``vllm/entrypoints/generate/base/serving.py``). ``max_tokens`` 0
is answered only with ``echo`` (``CompletionRequest.to_sampling_params``), so one token is generated and
ignored. A k above the server's cap is refused by ``vllm/v1/engine/processor.py`` ("Requested prompt logprobs
of K, which is greater than max allowed: N"): that error names ``--max-logprobs`` here. vLLM computes prompt
log-probs from the raw logits (``_get_prompt_logprobs_dict`` in ``vllm/v1/worker/gpu_model_runner.py``) and
skips its prefix cache for such requests (``KVCacheManager.get_computed_blocks`` in
``vllm/v1/core/kv_cache_manager.py``), so every position is computed in full.
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import httpx

from agents.http import HTTPAgent, HTTPError, _run
from agents.redact import redact_url

#: a top-k per position: (ids, log-probs), each one k-list per position asked for
TopK = tuple[list[list[int]], list[list[float]]]
DEFAULT_TOKENS_PER_REQUEST = 8192
#: reply bytes allowed per (position, top-k entry): ``"123": {"logprob": -1.2345, "rank": 3, "decoded_token":
#: "..."}`` is ~70 bytes with a short token; 160 leaves room for long or escaped token texts
_BYTES_PER_ENTRY = 160
_MAX_LOGPROBS_HINT = "Requested prompt logprobs"


class ServedScorer:
    """A served teacher's top-k at positions of token-id sequences (see the module docstring)."""

    def __init__(self, base_url: str, tokenizer: Any, *, k: int = 20, model: str | None = None,
                 api_key: str | None = None, concurrency: int = 8,
                 tokens_per_request: int = DEFAULT_TOKENS_PER_REQUEST, timeout_s: float = 300.0,
                 retries: int = 4, tokenizer_name: str = "the student's tokenizer"):
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"served scoring: k must be a whole number >= 1, got {k!r}")
        if tokens_per_request < 1:
            raise ValueError(f"served scoring: tokens_per_request must be >= 1, got {tokens_per_request!r}")
        self._http = HTTPAgent(base_url=base_url, api_key=api_key, api="completions", timeout_s=timeout_s,
                               retries=retries, concurrency=concurrency)
        self._http.model = model  # None is sent as null: vLLM then takes its one served model
        self.tokenizer, self.k, self.tokens_per_request = tokenizer, k, tokens_per_request
        self.tokenizer_name = tokenizer_name
        self._checked = False

    def __repr__(self) -> str:  # the key stays out of logs and tracebacks
        return f"ServedScorer(base_url={redact_url(self._http.base_url)!r}, k={self.k})"

    def score(self, sequences: Sequence[Sequence[int]], positions: Sequence[Sequence[int]]) -> list[TopK]:
        """Per sequence, the teacher's top-k (ids, log-probs) at each of its ``positions`` (each >= 1 and
        within the sequence), in their order; HTTPError when the server fails or cannot serve them."""
        if len(sequences) != len(positions):
            raise ValueError(f"served scoring: {len(sequences)} sequences but {len(positions)} "
                             "position lists")
        for i, (ids, wanted) in enumerate(zip(sequences, positions, strict=True)):
            outside = [p for p in wanted if not 1 <= p < len(ids)]
            if outside:
                raise ValueError(f"served scoring: sequence {i} of {len(ids)} ids asks for positions "
                                 f"{outside[:3]}; expected 1..{len(ids) - 1}")
        batches = self._batches([len(s) for s in sequences])
        longest = max((sum(len(sequences[i]) for i in batch) for batch in batches), default=0)
        self._http.max_reply_bytes = longest * (self.k + 1) * _BYTES_PER_ENTRY + 64 * 1024
        answers = _run(self._score_all(
            [[[int(t) for t in sequences[i]] for i in batch] for batch in batches]))
        out: list[TopK] = [([], []) for _ in sequences]
        for batch, answer in zip(batches, answers, strict=True):
            for i, logprobs in zip(batch, answer, strict=True):
                out[i] = self._topk(logprobs, sequences[i], positions[i])
        return out

    def _batches(self, lengths: list[int]) -> list[list[int]]:
        """Sequence indices in request-sized groups: consecutive sequences of at most ``tokens_per_request``
        ids together (a longer sequence alone)."""
        batches: list[list[int]] = []
        size = 0
        for i, n in enumerate(lengths):
            if not batches or size + n > self.tokens_per_request:
                batches.append([])
                size = 0
            batches[-1].append(i)
            size += n
        return batches

    async def _score_all(self, prompts: list[list[list[int]]]) -> list[list[Any]]:
        http = self._http
        gate = asyncio.Semaphore(http.concurrency)
        async with httpx.AsyncClient(timeout=http.timeout_s) as client:
            if not self._checked:
                name = f"served scoring: {self.tokenizer_name}"
                await http._check_tokenizer(client, gate, self.tokenizer, name,
                                            "the student and the served teacher must share one tokenizer")
                self._checked = True
            answers = await asyncio.gather(*(self._request(client, gate, p) for p in prompts),
                                           return_exceptions=True)
        for answer in answers:
            if isinstance(answer, BaseException):
                raise answer
        return answers  # type: ignore[return-value]

    async def _request(self, client: httpx.AsyncClient, gate: asyncio.Semaphore,
                       prompts: list[list[int]]) -> list[Any]:
        """The ``prompt_logprobs`` list of each prompt, in prompt order."""
        http = self._http
        url = f"{http.base_url}/completions"
        body = {"model": http.model, "prompt": prompts, "max_tokens": 1, "temperature": 0.0,
                "prompt_logprobs": self.k}
        try:
            data = await http._exchange(client, gate, url, body)
        except HTTPError as err:
            if _MAX_LOGPROBS_HINT in str(err):
                raise HTTPError(f"{err}; teacher_topk={self.k} asks for more prompt log-probs than the "
                                "server returns: vLLM caps them at its --max-logprobs setting (default 20), "
                                f"so start it with --max-logprobs {self.k} or lower teacher_topk") from None
            raise
        shown = redact_url(url)
        need = "served scoring needs vLLM's prompt_logprobs"
        try:
            choices = json.loads(data)["choices"]
            ordered = sorted(choices, key=lambda c: c["index"])
            lists = [c.get("prompt_logprobs") for c in ordered]
        except (ValueError, KeyError, TypeError, RecursionError, AttributeError):
            raise HTTPError(http._safe(f"{shown} answered something that is not an OpenAI completion with "
                                       f"indexed choices; {need}: ") + http._quote(data)) from None
        if len(lists) != len(prompts) or any(
            not isinstance(lp, list) or len(lp) != len(p) for lp, p in zip(lists, prompts, strict=False)
        ):
            got = [len(lp) if isinstance(lp, list) else lp for lp in lists]
            raise HTTPError(http._safe(
                f"{shown} answered prompt_logprobs of lengths {got[:4]} for {len(prompts)} prompts of "
                f"{[len(p) for p in prompts][:4]} ids; expected one entry per prompt token; {need}"))
        return lists

    def _topk(self, logprobs: list[Any], ids: Sequence[int], positions: Sequence[int]) -> TopK:
        """The k most likely (id, log-prob) at each position from one prompt's ``prompt_logprobs``."""
        top_ids: list[list[int]] = []
        top_lps: list[list[float]] = []
        for p in positions:
            entries = _entries(logprobs[p])
            if entries is None or len(entries) < self.k:
                raise HTTPError(f"served scoring: the server's prompt_logprobs[{p}] is "
                                f"{str(logprobs[p])[:120]}; expected at least k={self.k} "
                                "'<token id>': {'logprob': ...} entries (vLLM's prompt_logprobs)")
            best = sorted(entries, key=lambda e: -e[1])[:self.k]
            top_ids.append([i for i, _ in best])
            top_lps.append([lp for _, lp in best])
        return top_ids, top_lps


def _entries(position: Any) -> list[tuple[int, float]] | None:
    """(id, log-prob) pairs of one ``prompt_logprobs`` entry; None when it is not vLLM's shape."""
    if not isinstance(position, dict):
        return None
    entries = []
    for key, value in position.items():
        logprob = value.get("logprob") if isinstance(value, dict) else None
        if not (isinstance(key, str) and key.isdigit()) or isinstance(logprob, bool) \
                or not isinstance(logprob, int | float):
            return None
        entries.append((int(key), float(logprob)))
    return entries

