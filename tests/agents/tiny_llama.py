"""The tiny Llama with a byte-level BPE that the LM-agent tests play: its turns are WebShop / HotPotQA-shaped
text, its weights random (sharpened so greedy choices are far from ties)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

VOCAB = 320
TEXTS = [
    "Thought: I should search for the item first.\nAction: search[red running shoes]\n",
    "Observation: [Back to Search] Page 1 (Total results: 10) [Next >] B0001 red running shoes $20.00\n",
    "Thought: The first result matches.\nAction: click[B0001]\n",
    "Question: Which magazine was started first? Action: finish[Arthur's Magazine]\n",
] * 20


def bpe_tokenizer(vocab: int = VOCAB) -> Any:
    """A byte-level BPE of ``vocab`` ids trained on :data:`TEXTS` (eos = bos = ``<|endoftext|>``)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=["<|endoftext|>", "<|pad|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    bpe.train_from_iterator(TEXTS, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>", bos_token="<|endoftext|>",
                                   pad_token="<|pad|>", clean_up_tokenization_spaces=False)


def tiny_llama_config(tokenizer: Any, max_positions: int = 1024) -> Any:
    """The config of a 2-layer, 64-wide Llama over ``tokenizer``'s vocabulary and special ids."""
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                       num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                       max_position_embeddings=max_positions,
                       bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                       pad_token_id=tokenizer.pad_token_id)


def tiny_llama(out: Path, seed: int = 0, sharpen: float = 20.0) -> str:
    """A 2-layer, 64-wide Llama and :func:`bpe_tokenizer`, saved in ``out``; its LM head scaled by
    ``sharpen``."""
    from transformers import LlamaForCausalLM

    tokenizer = bpe_tokenizer(VOCAB)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(tiny_llama_config(tokenizer))
    with torch.no_grad():
        model.lm_head.weight.mul_(sharpen)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return str(out)
