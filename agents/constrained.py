"""Constrained action decoding: an LM agent's ``Action:`` restricted to what the env can take.

With ``agents.make("lm", ..., constrain_actions=True)`` every generated turn has the shape
``Thought: <one line>\\nAction: <action>``:

- ``Thought:`` is forced at the start of the turn (the contract's turn format; a pretrained model left to
  itself tends to copy the observation instead), unless the budget only leaves room for the action;
- the thought is free text on one line; when it ends (a newline), or when the token budget left is just
  what the longest action needs (``Action:``, the action's tokens, its line end; an open argument counts
  :data:`OPEN_ARGUMENT_TOKENS`), the tokens of ``Action:`` are forced; an open argument still running at
  its last tokens is closed with ``]``: every turn ends in an action of the space;
- after ``Action:`` the next tokens are restricted to an :class:`ActionSpace`: complete actions (a prefix
  trie over their token ids, so the model picks one by its own likelihood, token by token) and
  *open* verbs (``search[``), whose argument is free text up to the closing ``]`` (no newline);
- a complete action, or a closed argument, is followed by a line end only (a newline token, or EOS):
  the newline that ends the turn (``agents.react.completion_end``).

Where the action space comes from (:func:`action_space`):

- ``info["admissible_actions"]`` when the env lists them (ALFWorld: every command; WebShop: each page's
  ``click[...]``, plus ``search[<your query>]`` which stands for an open ``search[`` verb); WebShop's query
  is *extractive*: 1..:data:`MAX_QUERY_WORDS` words of the instruction the agent was shown, in the
  instruction's order (any subsequence; the instruction's words are what a query can usefully hold, and a
  small model copies them far better than it spells them), each after a space, the first one too:
  ``search[ coffee beans]``, so every word is the token it is in the instruction (`` coffee``, where
  ``search[coffee`` would spell ``co ff ee``) and the query reads as the expert's demos write it (the env
  strips the space);
- HotPotQA (no list): every verb *extractive*, over text observed in the episode (question included):
  ``search[...]`` an entity of up to :data:`MAX_ENTITY_WORDS` words, or a title of a ``Similar:`` list;
  ``lookup[...]`` a keyword of up to :data:`MAX_KEYWORD_WORDS` words; ``finish[...]`` an answer of up to
  :data:`MAX_ANSWER_WORDS` words, or ``yes`` / ``no`` (comparison questions answer with them and they
  need not be observed). (A search for a title never shown is ruled out: a deviation from free ReAct,
  which is why constrained decoding is an option, recorded with the run);
- any other env without a list: no constraint (free decoding).

What gets logged is unchanged: ``token_ids`` are the tokens chosen under the constraint, while
``topk_ids`` / ``topk_logprobs`` are taken **before** the constraint mask, from the model's own
full-vocabulary distribution at temperature 1 — the distribution knowledge distillation needs. (The
chosen token is then not always the logged top-1: the mask may have ruled the top-1 out.)

Complete actions are tokenised as they follow ``Action:`` in context (``"Action: " + action`` with the
ids of ``"Action:"`` removed), i.e. in their canonical tokenisation; the model cannot spell an action
another way. A turn without any admissible action (an empty list) is decoded freely.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

#: tokens kept for an open argument (``search[...]``) when the budget cuts a thought short
OPEN_ARGUMENT_TOKENS = 12
#: longest extractive answer (words) HotPotQA's ``finish[...]`` may take from the observed text
MAX_ANSWER_WORDS = 8
#: most words an extractive query (WebShop's ``search[...]``) takes from the instruction
MAX_QUERY_WORDS = 16
#: most words of HotPotQA's extractive ``search[...]`` entity and ``lookup[...]`` keyword
MAX_ENTITY_WORDS = 6
MAX_KEYWORD_WORDS = 3
#: HotPotQA's ``Similar: [...]`` list and its quoted titles (Python's repr: single quotes, or double
#: quotes around a title holding a single quote)
_SIMILAR = re.compile(r"Similar: \[(.*)\]", re.MULTILINE)
_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"")
#: the ``Action:`` keyword ending the text written so far (``Action 3:`` too; case-free), as in agents.react
_ACTION_OPENED = re.compile(r"(?:^|\n)[ \t>]*action(?:[ \t]*\d+)?[ \t]*:[ \t]*$", re.IGNORECASE)
#: a placeholder entry of an admissible list, e.g. WebShop's ``search[<your query>]``
_PLACEHOLDER = re.compile(r"^(?P<verb>\w+)\[<[^>\]]*>\]$")
_LEADING_PUNCTUATION = "([{\"'`"
_TRAILING_PUNCTUATION = ".,;:!?)]}\"'`"
#: a word of an instruction, as a query may use it ("2-pack", "men's", "3.4")
_WORD = re.compile(r"\w(?:[\w'.-]*\w)?")


@dataclass(frozen=True)
class ActionSpace:
    """What may follow ``Action:``: ``complete`` actions, and ``open_verbs`` whose ``verb[`` is followed by
    free text up to ``]`` or, when ``argument_words`` is set, by 1..:data:`MAX_QUERY_WORDS` of those words in
    their order (a subsequence), each after a single space (extractive: ``search[ red shoes]``)."""

    complete: tuple[str, ...] = ()
    open_verbs: tuple[str, ...] = ()
    argument_words: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.complete or self.open_verbs)


def observed_spans(texts: Sequence[str], max_words: int = MAX_ANSWER_WORDS) -> list[str]:
    """Every run of 1..``max_words`` whitespace-separated words of ``texts`` (within one text), with
    punctuation stripped at its two ends, deduplicated in order of first appearance."""
    if max_words < 1:
        raise ValueError(f"max_words must be >= 1, got {max_words}")
    spans: dict[str, None] = {}
    for text in texts:
        words = text.split()
        for start in range(len(words)):
            for end in range(start + 1, min(len(words), start + max_words) + 1):
                span = " ".join(words[start:end]).lstrip(_LEADING_PUNCTUATION).rstrip(_TRAILING_PUNCTUATION)
                if span and "[" not in span and "]" not in span:
                    spans[span] = None
    return list(spans)


def instruction_words(instruction: str) -> tuple[str, ...]:
    """The words of ``instruction`` in order, as written (punctuation around them dropped): an extractive
    query is a subsequence of them, each as written or lower-cased."""
    return tuple(_WORD.findall(instruction))


def _both_cases(verb: str) -> tuple[str, str]:
    return verb.lower(), verb.capitalize()


def action_space(
    env: str, info: dict[str, Any], observations: Sequence[str], instruction: str = ""
) -> ActionSpace:
    """The :class:`ActionSpace` of the next action in ``env``, from the latest ``info``, the episode's
    observations so far and its instruction (the task text the agent was shown; see the module
    docstring); empty when nothing constrains it."""
    listed = info.get("admissible_actions")
    if listed is not None:
        complete, open_verbs = [], []
        for action in listed:
            action = " ".join(str(action).split())
            placeholder = _PLACEHOLDER.match(action)
            if placeholder:
                open_verbs.append(placeholder["verb"])
            elif action:
                complete.append(action)
        words = instruction_words(instruction) if env == "webshop" and open_verbs else ()
        return ActionSpace(tuple(dict.fromkeys(complete)), tuple(dict.fromkeys(open_verbs)), words)
    if env == "hotpotqa":
        spans = observed_spans(observations)
        arguments = {
            "finish": ["yes", "no", *spans],
            "search": [*similar_titles(observations), *(s for s in spans if s.count(" ") < MAX_ENTITY_WORDS)],
            "lookup": [s for s in spans if s.count(" ") < MAX_KEYWORD_WORDS],
        }
        complete = [f"{verb}[{argument}]" for name, values in arguments.items()
                    for verb in _both_cases(name) for argument in dict.fromkeys(values)]
        return ActionSpace(tuple(complete))
    return ActionSpace()


def similar_titles(observations: Sequence[str]) -> list[str]:
    """The titles of every ``Similar: ['title', ...]`` list in ``observations`` (HotPotQA's failed search)."""
    titles = []
    for text in observations:
        for listed in _SIMILAR.findall(text):
            titles += [single or double for single, double in _QUOTED.findall(listed)]
    return [t for t in titles if t and "[" not in t and "]" not in t]


@dataclass
class _Node:
    """A prefix-trie node over token ids: ``end`` = a complete action ends here; ``open`` = the tokens so
    far spell ``verb[`` of an open verb, so free text follows."""

    children: dict[int, _Node] = field(default_factory=dict)
    end: bool = False
    open: bool = False
    word: str = ""  # in a word trie: the word that ends here


class TokenVocabulary:
    """Per-tokenizer facts the constraint needs, computed once: the ids that end an action line and the
    mask of tokens an open argument may not contain (a newline, a ``]`` not at the token's end, or the end of
    the text)."""

    def __init__(self, tokenizer: Any, vocab_size: int):
        self.tokenizer = tokenizer
        self.vocab_size = vocab_size
        line_ends = {self._single_id(s) for s in ("\n", "\n\n")} - {None}
        self.eos = tokenizer.eos_token_id
        #: the id of a lone ``]`` (closes an open argument at the end of the budget), if one token
        self.close_id = self._single_id("]")
        self.line_end_ids: list[int] = sorted(line_ends | ({self.eos} if self.eos is not None else set()))
        known = min(vocab_size, len(tokenizer))
        texts = tokenizer.batch_decode([[token_id] for token_id in range(known)])
        forbidden = torch.ones(vocab_size, dtype=torch.bool)  # ids past the tokenizer's: never
        # a newline, or a ``]`` with more text after it (the argument closes with the token's last character)
        forbidden[:known] = torch.tensor(["\n" in text or "]" in text[:-1] for text in texts],
                                         dtype=torch.bool)
        if self.eos is not None and self.eos < vocab_size:
            forbidden[self.eos] = True
        #: tokens an open argument may not contain: [V] bool
        self.open_forbidden = forbidden
        #: tokens a thought may not contain (the end of the text: a turn ends in its action): [V] bool
        self.thought_forbidden = torch.zeros(vocab_size, dtype=torch.bool)
        self.thought_forbidden[known:] = True
        if self.eos is not None and self.eos < vocab_size:
            self.thought_forbidden[self.eos] = True
        self._action_line: dict[str, list[int]] = {}
        self._on_device: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def allowed_on(self, device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor]:
        """(tokens an open argument may take, tokens a thought may take): [V] bool each, on ``device``
        (copied there once)."""
        key = str(device)
        if key not in self._on_device:
            self._on_device[key] = ((~self.open_forbidden).to(device), (~self.thought_forbidden).to(device))
        return self._on_device[key]

    def _single_id(self, text: str) -> int | None:
        ids = self.encode(text)
        return ids[0] if len(ids) == 1 else None

    def encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def continuations(self, keyword: str, actions: Sequence[str]) -> list[list[int]]:
        """Token ids of each of ``actions`` as it follows ``keyword`` (the text written up to and including
        ``Action:``'s colon and any spaces after it) in a text: ``keyword + " " + action`` encoded, minus the
        ids of ``keyword`` alone; where that split is not clean the action is encoded on its own."""
        spaced = "" if keyword.endswith((" ", "\t")) else " "
        keyword_ids = self._action_line.setdefault(keyword, self.encode(keyword))
        texts = [keyword + spaced + action for action in actions]
        encoded = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
        out = []
        for action, ids in zip(actions, encoded, strict=True):
            if ids[: len(keyword_ids)] == keyword_ids and len(ids) > len(keyword_ids):
                out.append(ids[len(keyword_ids):])
            else:
                out.append(self.encode(spaced + action))
        return out


def word_trie(vocabulary: TokenVocabulary, words: Sequence[str]) -> tuple[_Node, int]:
    """(the prefix trie of ``words``' token ids, each written after a space (every word of a query, its
    first too: ``search[ coffee beans]``), ``end`` marking a complete word; the most tokens a word takes).
    Words are pre-tokenised apart from ``[``, spaces and ``]`` by byte-level BPE, so these are the ids the
    words have inside a query, the same as in the instruction's running text."""
    root, longest = _Node(), 0
    if not words:
        return root, longest
    encoded = vocabulary.tokenizer([" " + w for w in words], add_special_tokens=False)
    for word, ids in zip(words, encoded["input_ids"], strict=True):
        node = root
        for token_id in ids:
            node = node.children.setdefault(token_id, _Node())
        node.end, node.word = True, word
        longest = max(longest, len(ids))
    return root, longest


def build_trie(vocabulary: TokenVocabulary, keyword: str, space: ActionSpace) -> tuple[_Node, int]:
    """(the prefix trie of ``space`` as token ids following ``keyword``
    (:meth:`TokenVocabulary.continuations`), the most tokens an action of it takes to its line end)."""
    root = _Node()
    complete = list(space.complete)
    opens = [f"{verb}[" for verb in space.open_verbs]
    sequences = vocabulary.continuations(keyword, complete + opens)
    longest = 0
    for index, ids in enumerate(sequences):
        node = root
        for token_id in ids:
            node = node.children.setdefault(token_id, _Node())
        if index < len(complete):
            node.end = True
            longest = max(longest, len(ids) + 1)
        else:
            node.open = True
            longest = max(longest, len(ids) + OPEN_ARGUMENT_TOKENS + 2)  # ``]`` and the line end
    return root, longest


class _ExtractiveArgument:
    """The decoding state of an extractive argument: words of a list *in their order* (each occurrence at
    most once; a word as written or lower-cased), each after a single space, closed by ``]`` after a
    complete word (forced once :data:`MAX_QUERY_WORDS` are written, the words run out or the budget runs
    low). Skipping words is free, so any subsequence of the instruction is a query."""

    def __init__(self, vocabulary: TokenVocabulary, words: Sequence[str]):
        self.vocabulary, self.words = vocabulary, list(words)
        self.close_id = vocabulary.close_id
        self.longest = word_trie(vocabulary, self.words)[1]
        self._tries: dict[int, _Node] = {}
        self.position, self.count = -1, 0  # index of the last complete word; words written
        self.node = self._trie_after(-1)

    def _trie_after(self, position: int) -> _Node:
        """The trie of the words that may follow the word at ``position`` (-1: the first word)."""
        if position not in self._tries:
            later = self.words[position + 1:]
            forms = dict.fromkeys(form for word in later for form in (word, word.lower()))
            self._tries[position] = word_trie(self.vocabulary, list(forms))[0]
        return self._tries[position]

    def _position_of(self, word: str) -> int:
        """Where the word just completed stands: its first occurrence after the previous word."""
        return next(i for i in range(self.position + 1, len(self.words))
                    if word in (self.words[i], self.words[i].lower()))

    def allowed(self, remaining: int) -> list[int]:
        if not (self.node.end and self.close_id is not None):
            return list(self.node.children)
        following = self._trie_after(self._position_of(self.node.word)).children
        if not following or self.count + 1 >= MAX_QUERY_WORDS or remaining <= self.longest + 2:
            return [self.close_id]
        return [*self.node.children, *following, self.close_id]

    def advance(self, token_id: int) -> bool:
        """Record ``token_id``; True once the argument is closed."""
        if self.node.end and token_id == self.close_id:
            return True
        if token_id in self.node.children:  # the word goes on (a next word's first token holds its space)
            self.node = self.node.children[token_id]
        else:  # the current word is complete: this is the first token of the next one
            self.position, self.count = self._position_of(self.node.word), self.count + 1
            self.node = self._trie_after(self.position).children[token_id]
        return False


class ActionConstraint:
    """The decoding state of one sequence's turn under constrained decoding.

    The generation loop asks :meth:`allowed` before choosing each token (None: anything; a list of ids;
    :data:`THOUGHT`: anything but the end of the text; :data:`OPEN`: free text without a newline; an
    extractive argument's words are lists of ids) and
    reports every chosen token to :meth:`advance`.
    """

    THOUGHT = "thought"
    OPEN = "open"

    def __init__(self, vocabulary: TokenVocabulary, space: ActionSpace):
        self.vocabulary = vocabulary
        self.space = space
        # "start" -> "forced" (Thought:) -> "thought" -> "forced" (Action:) -> "action"
        # (-> "open" | "words" -> "closed": a line end only)
        self.phase = "start"
        self._forced: list[int] = []
        self._after_forced = "thought"
        self._node: _Node | None = None
        self._argument: _ExtractiveArgument | None = None
        self._text = ""
        #: the trie after the usual keyword, built up front: a turn nearly always reaches its action
        self._keyword = "Action:"
        self._trie, longest = build_trie(vocabulary, self._keyword, space)
        #: budget left at which a running thought is cut: "\nAction:" and the longest action fit in it
        self.reserve = len(vocabulary.encode("\n" + self._keyword)) + longest

    def allowed(self, remaining: int) -> list[int] | str | None:
        """Ids the next token may take given ``remaining`` tokens of budget (see the class docstring)."""
        if self.phase == "start":
            thought = self.vocabulary.encode("Thought:")
            room = remaining > self.reserve + len(thought)
            self._force("Thought:" if room else "Action:", then="thought" if room else "action")
        if self.phase == "thought" and remaining <= self.reserve:
            self._force("Action:" if self._text.endswith("\n") or not self._text else "\nAction:")
        if self.phase == "forced":
            return self._forced[:1]
        if self.phase == "action" and self._node is not None:
            ids = list(self._node.children)
            return ids + self.vocabulary.line_end_ids if self._node.end else ids
        if self.phase == "words" and self._argument is not None:
            return self._argument.allowed(remaining)
        if self.phase == "open":
            close = self.vocabulary.close_id
            return [close] if remaining <= 2 and close is not None else self.OPEN
        if self.phase == "closed":
            return self.vocabulary.line_end_ids
        return self.THOUGHT if self.phase == "thought" else None

    def advance(self, token_id: int, text: str) -> None:
        """Record the chosen ``token_id``; ``text`` is the decoded completion including it."""
        self._text = text
        if self.phase == "forced":
            self._forced.pop(0)
            if not self._forced and self._after_forced == "thought":
                self.phase = "thought"
            elif not self._forced:
                self._open_action(text)
        elif self.phase == "thought":
            if _ACTION_OPENED.search(text):
                self._open_action(text)
            elif text.endswith("\n") and text.strip():
                self._force("Action:")
        elif self.phase == "action" and self._node is not None:
            self._node = self._node.children.get(token_id)
            if self._node is not None and self._node.open:
                self._open_argument()
        elif self.phase == "words" and self._argument is not None:
            if self._argument.advance(token_id):
                self.phase = "closed"
        elif self.phase == "open" and text.endswith("]"):
            self.phase = "closed"

    def _open_argument(self) -> None:
        """``verb[`` is written: an extractive argument where the space has words (and ``]`` is one
        token), else free text."""
        if self.space.argument_words and self.vocabulary.close_id is not None:
            self.phase = "words"
            self._argument = _ExtractiveArgument(self.vocabulary, self.space.argument_words)
        else:
            self.phase = "open"

    def _force(self, keyword: str, then: str = "action") -> None:
        """Write ``keyword``'s tokens for the model, then go on in phase ``then``."""
        self.phase, self._after_forced = "forced", then
        self._forced = self.vocabulary.encode(keyword)

    def _open_action(self, text: str) -> None:
        line = text[text.rfind("\n") + 1:]  # "Action:" (or "Action 3: ") as written
        self.phase = "action"
        self._node = self._trie if line == self._keyword else build_trie(self.vocabulary, line, self.space)[0]
        if not self._node.children:  # nothing to choose from: decode freely
            self.phase, self._node = "free", None


def allowed_mask(
    rules: Sequence[list[int] | str | None], vocabulary: TokenVocabulary, device: torch.device | str = "cpu"
) -> torch.Tensor | None:
    """[B, V] bool mask of the tokens each row may take (rows with None: all), built on ``device``, or None
    if no row is constrained. The listed ids go over in one index tensor and are scattered there; open and
    thought rows copy the vocabulary's masks kept on the device."""
    if all(rule is None for rule in rules):
        return None
    allowed_open, allowed_thought = vocabulary.allowed_on(device)
    mask = torch.ones(len(rules), vocabulary.vocab_size, dtype=torch.bool, device=device)  # [B, V]
    kinds: dict[str, list[int]] = {ActionConstraint.OPEN: [], ActionConstraint.THOUGHT: []}
    listed_rows, rows, ids = [], [], []
    for row, rule in enumerate(rules):
        if isinstance(rule, str):
            kinds[rule].append(row)
        elif rule is not None:
            listed_rows.append(row)
            rows += [row] * len(rule)
            ids += rule
    for kind, allowed in ((ActionConstraint.OPEN, allowed_open), (ActionConstraint.THOUGHT, allowed_thought)):
        if kinds[kind]:
            mask[torch.tensor(kinds[kind], device=device)] = allowed
    if listed_rows:
        index = torch.tensor([rows, ids], dtype=torch.long).to(device)  # [2, N]: one copy to the device
        mask[torch.tensor(listed_rows, device=device)] = False
        mask[index[0], index[1]] = True
    return mask
