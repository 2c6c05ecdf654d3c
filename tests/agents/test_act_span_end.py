"""The act span ends its line: a completion's training tokens end with the newline that ends its action, that
token is act, and a student trained on demos writes it by itself, which is where its generation stops."""
from __future__ import annotations

import pytest
import torch

from agents.lm import LMAgent
from distill.data import EpisodeLog, collate, encode_episode
from distill.models import train_bpe
from tests.agents.tiny_llama import tiny_llama_config

#: (task, first observation, [(completion, the observation after it)]): ALFWorld demos, bracket-less actions
DEMOS = [
    ("put a mug in desk", "You are in the middle of a room. You see a countertop 1 and a desk 1.", [
        ("Thought: The mug is likely on the countertop.\nAction: go to countertop 1",
         "On the countertop 1, you see a mug 1."),
        ("Action: take mug 1 from countertop 1", "You pick up the mug 1 from the countertop 1."),
        ("Action: go to desk 1", "On the desk 1, you see nothing."),
        ("Action: put mug 1 in/on desk 1", "You put the mug 1 in/on the desk 1."),
    ]),
    ("put an apple in fridge", "You are in the middle of a room. You see a fridge 1 and a cabinet 2.", [
        ("Thought: An apple may be in the cabinet.\nAction: open cabinet 2",
         "You open the cabinet 2. In it, you see an apple 3."),
        ("Action: take apple 3 from cabinet 2", "You pick up the apple 3 from the cabinet 2."),
        ("Thought: Now the fridge.\nAction: go to fridge 1", "The fridge 1 is closed."),
        ("Action: put apple 3 in/on fridge 1", "You put the apple 3 in/on the fridge 1."),
    ]),
]
MAX_NEW_TOKENS = 48


def episode_log(index: int) -> EpisodeLog:
    task, first, turns = DEMOS[index]
    return EpisodeLog(key=f"demo/{index}", env="", task=task,
                      observations=[first, *(obs for _, obs in turns[:-1])],
                      completions=[completion for completion, _ in turns])


@pytest.fixture(scope="module")
def tokenizer():
    texts = [f"Task: {task}\nObservation: {first}\n" + "".join(f"{c}\nObservation: {o}\n" for c, o in turns)
             for task, first, turns in DEMOS]
    return train_bpe(texts * 10, 400)


def completion_runs(example) -> list[tuple[int, int]]:
    """(start, end) token ranges of the example's completions (runs of the completion mask)."""
    runs, start = [], None
    for t, inside in enumerate([*example.completion_mask, False]):
        if inside and start is None:
            start = t
        elif not inside and start is not None:
            runs.append((start, t))
            start = None
    return runs


def test_each_completion_ends_with_the_newline_of_its_action_in_the_act_span(tokenizer):
    for index in range(len(DEMOS)):
        (example,) = encode_episode(episode_log(index), tokenizer, max_length=4096, instructions="")
        runs = completion_runs(example)
        assert len(runs) == len(DEMOS[index][2])
        for (start, end), (completion, _) in zip(runs, DEMOS[index][2], strict=True):
            assert tokenizer.decode(example.input_ids[start:end]) == completion + "\n"
            assert tokenizer.decode(example.input_ids[end - 1:end]).endswith("\n")
            assert example.act_mask[end - 1] and not example.reason_mask[end - 1]
            if end < len(example):  # the token after the turn opens the observation block, in no span
                assert tokenizer.decode(example.input_ids[end:end + 1]).startswith("Observation")


@pytest.mark.slow
def test_a_student_trained_on_demos_ends_a_bracketless_action_by_itself(tokenizer, tmp_path):
    from transformers import LlamaForCausalLM

    examples = [e for i in range(len(DEMOS)) for e in encode_episode(episode_log(i), tokenizer, 4096,
                                                                         instructions="")]
    batch = collate(examples, pad_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    model = LlamaForCausalLM(tiny_llama_config(tokenizer, max_positions=512))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    mask = batch["completion_mask"]  # [B, T]: logit positions that predict a completion token
    for _ in range(200):  # ~90 steps reach it
        logits = model(input_ids=batch["input_ids"],
                       attention_mask=batch["attention_mask"]).logits  # [B, T, V]
        loss = torch.nn.functional.cross_entropy(logits[mask], batch["labels"][mask])
        if loss.item() < 0.01:
            break
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.01
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)

    agent = LMAgent(tmp_path, env="", max_new_tokens=MAX_NEW_TOKENS, device="cpu", precision="fp32")
    newline = tokenizer("\n", add_special_tokens=False)["input_ids"]
    for task, first, turns in DEMOS:
        agent.reset({"task": task})
        observations = [first, *(obs for _, obs in turns[:-1])]
        for observation, (completion, _) in zip(observations, turns, strict=True):
            step = agent.act(observation)
            assert step.text == completion
            # it wrote the newline itself, and generation stopped there: the turn's ids end with it
            assert step.token_ids[-len(newline):] == newline and len(step.token_ids) < MAX_NEW_TOKENS
            assert tokenizer.decode(step.token_ids) == completion + "\n"
