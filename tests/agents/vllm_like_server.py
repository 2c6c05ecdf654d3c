"""A local stand-in for a vLLM server, for tests: a real tiny HF model served on 127.0.0.1 in vLLM's response
format (no mock of the model: its forward passes give the answers).

Routes, as vLLM defines them. ``POST /v1/completions``: ``CompletionRequest`` in
``vllm/entrypoints/openai/completion/protocol.py`` (``prompt`` as a list of ids or a list of such lists,
``logprobs: int``, ``prompt_logprobs: int``, ``return_tokens_as_token_ids``), one choice per prompt in prompt
order. ``CompletionLogProbs`` as ``OpenAIServingCompletion._create_completion_logprobs`` in
``vllm/entrypoints/openai/completion/serving.py`` builds it: ``"token_id:N"`` tokens, each ``top_logprobs``
map with the sampled token first then the top k, log-probs clipped at -9999; the EOS token stays in the
generated ids, the text stops before a stop string. ``CompletionResponseChoice.prompt_logprobs``
(``list[dict[int, Logprob] | None]``, ``Logprob`` of ``vllm/logprobs.py``: ``logprob``, ``rank``,
``decoded_token``): ``None`` for the first prompt token, then per token a map keyed by the token id (a JSON
string of digits) holding the prompt's own token first, then the top k (k or k+1 entries), -inf clipped at
-9999 (``clamp_prompt_logprobs``). ``POST /tokenize`` (``vllm/entrypoints/serve/tokenize/protocol.py``):
``{"model", "prompt"}`` -> ``{"count", "max_model_len", "tokens"}``, special tokens added. A ``logprobs`` or
``prompt_logprobs`` above ``max_logprobs`` gets vLLM's HTTP 400 (``vllm/v1/engine/processor.py``: "Requested
sample logprobs of K, which is greater than max allowed: N"; "Requested prompt logprobs of K, ..."). It
decodes greedily in fp32 with a full forward pass per token (raw log-softmax, vLLM's default
``--logprobs-mode``).
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import torch

MAX_LOGPROBS = 20  # vLLM's default --max-logprobs


class VLLMLikeServer:
    """``model_dir`` served on 127.0.0.1 in vLLM's completions format (see the module docstring);
    ``token_ids=False`` plays a server that ignores ``return_tokens_as_token_ids`` (tokens come back as
    text). Stops when its ``with`` block ends."""

    def __init__(self, model_dir: str, *, token_ids: bool = True, max_logprobs: int = MAX_LOGPROBS):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
        self.token_ids, self.max_logprobs = token_ids, max_logprobs
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({"path": self.path, "body": body})
                with server._lock:
                    status, payload = server.answer(self.path, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._httpd.server_port}/v1"

    def __enter__(self) -> VLLMLikeServer:
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def answer(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if path == "/tokenize":
            tokens = self.tokenizer(body["prompt"])["input_ids"]
            return 200, {"count": len(tokens), "max_model_len": 1024, "tokens": tokens}
        if path != "/v1/completions":
            return 404, {"detail": "Not Found"}
        k, prompt_k = body.get("logprobs"), body.get("prompt_logprobs")
        for kind, asked in (("sample", k), ("prompt", prompt_k)):
            if asked is not None and asked > self.max_logprobs:
                message = (f"Requested {kind} logprobs of {asked}, which is greater than max allowed: "
                           f"{self.max_logprobs}")
                return 400, {"error": {"message": message, "type": "BadRequestError",
                                       "param": "logprobs" if kind == "sample" else "prompt_logprobs",
                                       "code": 400}}
        if body.get("temperature") not in (0, 0.0):
            return 400, {"error": {"message": "this test server decodes greedily only", "code": 400}}
        prompt = body["prompt"]
        if isinstance(prompt, list) and prompt and isinstance(prompt[0], list):
            prompts = [list(p) for p in prompt]
        else:
            prompts = [list(prompt) if isinstance(prompt, list) else self.tokenizer(prompt)["input_ids"]]
        choices: list[dict[str, Any]] = []
        prompt_tokens = completion_tokens = 0
        for ids in prompts:
            choice, generated = self._choice(ids, body, k, prompt_k)
            choice["index"] = len(choices)
            choices.append(choice)
            prompt_tokens += len(ids)
            completion_tokens += generated
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                 "total_tokens": prompt_tokens + completion_tokens}
        return 200, {"id": "cmpl-test", "object": "text_completion", "created": 0, "model": body.get("model"),
                     "choices": choices, "usage": usage}

    def _choice(self, ids: list[int], body: dict[str, Any], k: int | None, prompt_k: int | None
                ) -> tuple[dict[str, Any], int]:
        """One prompt's choice and its number of generated tokens."""
        generated, tops, text = self._generate(ids, int(body.get("max_tokens", 16)), body.get("stop") or [],
                                               k)
        choice: dict[str, Any] = {"text": text, "logprobs": None, "finish_reason": "stop"}
        if k is not None:
            as_ids = bool(body.get("return_tokens_as_token_ids")) and self.token_ids

            def name(token: int) -> str:
                return f"token_id:{token}" if as_ids else self.tokenizer.decode([token])

            tokens = [name(t) for t in generated]
            offsets = [0]
            for token in tokens[:-1]:
                offsets.append(offsets[-1] + len(token))
            choice["logprobs"] = {
                "text_offset": offsets[:len(tokens)],
                "token_logprobs": [max(top[t], -9999.0) for t, top in zip(generated, tops, strict=True)],
                "tokens": tokens,
                "top_logprobs": [{name(t): max(lp, -9999.0) for t, lp in top.items()} for top in tops],
            }
        if prompt_k is not None:
            choice["prompt_logprobs"] = self._prompt_logprobs(ids, prompt_k)
        return choice, len(generated)

    @torch.no_grad()
    def _prompt_logprobs(self, ids: list[int], k: int) -> list[dict[str, dict[str, Any]] | None]:
        """vLLM's ``prompt_logprobs`` of ``ids``: None, then per token {its id, then the top k: Logprob}."""
        logprobs = torch.log_softmax(self.model(torch.tensor([ids])).logits[0].float(), -1)  # (T, V)
        out: list[dict[str, dict[str, Any]] | None] = [None]
        for t in range(1, len(ids)):
            row = logprobs[t - 1]
            order = torch.argsort(row, descending=True)
            ranks = {int(i): r + 1 for r, i in enumerate(order[:k])}
            entries = [ids[t]] + [int(i) for i in order[:k] if int(i) != ids[t]]
            out.append({str(i): {"logprob": max(float(row[i]), -9999.0),
                                 "rank": ranks.get(i, int((row > row[i]).sum()) + 1),
                                 "decoded_token": self.tokenizer.decode([i])} for i in entries})
        return out

    @torch.no_grad()
    def _generate(self, ids: list[int], max_tokens: int, stop: list[str], k: int | None
                  ) -> tuple[list[int], list[dict[int, float]], str]:
        """Greedy tokens, per token {sampled id: log-prob, then the top k}, and the text cut before a stop
        string (the token that completes it stays generated, as in vLLM)."""
        generated: list[int] = []
        tops: list[dict[int, float]] = []
        text = ""
        for _ in range(max_tokens):
            logits = self.model(torch.tensor([ids + generated])).logits[0, -1].float()
            logprobs = torch.log_softmax(logits, -1)
            token = int(logprobs.argmax())
            top = {token: float(logprobs[token])}
            values, indices = logprobs.topk(k or 0)
            top.update({int(i): float(v) for i, v in zip(indices, values, strict=True)})
            generated.append(token)
            tops.append(top)
            if token == self.tokenizer.eos_token_id:
                break
            text = self.tokenizer.decode(generated, skip_special_tokens=True)
            hit = [text.index(s) for s in stop if s in text]
            if hit:
                return generated, tops, text[:min(hit)]
        return generated, tops, text


