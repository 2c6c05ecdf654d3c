"""Every data loader that reads a user's files answers a malformed one with one line naming the file, the
field (with its entry index or key) and what was expected: never a traceback, never a RecursionError."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from envs.alfworld import data as alfworld_data
from envs.alfworld import game_files, upstream
from envs.alfworld.engine import AlfredEngine, GameFileError, read_game_file
from envs.alfworld.env import ALFWorldEnv
from envs.hotpotqa.data import load_bundle
from envs.hotpotqa.official import HotPotQAFormatError, load_official
from envs.json_files import DataFileError, json_type, parse_json, read_json
from envs.webshop.data import load_catalog

#: far deeper than json.loads can recurse (it raised RecursionError before)
DEEP = "[" * 100_000 + "]" * 100_000
#: deep, yet shallow enough to parse: a loader must still not keep it (or print it)
NESTED: Any = 1
for _ in range(500):
    NESTED = [NESTED]


def _one_line_error(err: pytest.ExceptionInfo[BaseException], *patterns: str) -> str:
    """The error is one line that matches every pattern, in order."""
    message = str(err.value)
    assert "\n" not in message and len(message) < 600, message
    assert re.search(".*".join(patterns), message), message
    return message


# --- the shared reader ---------------------------------------------------------------------------------
def test_read_json_names_the_file_for_every_way_it_can_be_unreadable(tmp_path: Path) -> None:
    cases = {
        "deep.json": (DEEP.encode(), "too deeply nested"),
        "broken.json": (b"{not json", r"not valid JSON \(Expecting"),
        "digits.json": (b"1" * 5_000, r"not valid JSON \(Exceeds the limit"),
        "latin1.json": ('["caf\xe9"]'.encode("latin-1"), "not UTF-8 text"),
    }
    for name, (content, problem) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(DataFileError) as err:
            read_json(tmp_path / name, "a list of things")
        _one_line_error(err, re.escape(str(tmp_path / name)), problem, "expected a list of things")
    with pytest.raises(FileNotFoundError, match="missing.json: no such file; expected a list"):
        read_json(tmp_path / "missing.json", "a list")
    with pytest.raises(DataFileError, match="line 3: too deeply nested"):
        parse_json(DEEP, "pages.jsonl: line 3", "an object")


def test_json_type_describes_values_without_recursing() -> None:
    assert json_type(NESTED) == "an array of 1 item" and json_type({"a": NESTED}) == "an object with 1 key"
    assert json_type("x" * 100) == f"the string {'x' * 40 + '...'!r}" and json_type(None) == "null"
    assert json_type(True) == "true" and json_type(5) == "the number 5"


# --- WebShop: items_shuffle*.json, items_ins_v2*.json, items_human_ins.json ----------------------------
def _product(asin: str, name: Any = "Acme Red Running Shoes", **fields: Any) -> dict[str, Any]:
    return {
        "asin": asin,
        "name": name,
        "full_description": "Shoes, made well.",
        "small_description": ["light"],
        "pricing": "$12.50",
        "images": ["img.jpg"],
        "product_category": "Clothing › Shoes",
        "query": "running shoes",
        "category": "fashion",
        "customization_options": {"Color": [{"value": "Red", "image": None}]},
        **fields,
    }


def _instruction(**fields: Any) -> dict[str, Any]:
    return {
        "instruction": "i want red running shoes",
        "instruction_attributes": ["light"],
        "instruction_options": ["red"],
        **fields,
    }


def _webshop(folder: Path, products: Any = None, attributes: Any = None, human: Any = None) -> Path:
    files = {
        "items_shuffle.json": [_product("B00GOOD001"), _product("B00GOOD002")]
        if products is None
        else products,
        "items_ins_v2.json": {"B00GOOD001": {"attributes": ["light"]}} if attributes is None else attributes,
        "items_human_ins.json": {"B00GOOD001": [_instruction()]} if human is None else human,
    }
    for name, payload in files.items():
        (folder / name).write_text(payload if isinstance(payload, str) else json.dumps(payload))
    return folder


def test_webshop_tiny_files_load(tmp_path: Path) -> None:
    catalog = load_catalog(_webshop(tmp_path))
    assert len(catalog.products) == 2 and catalog.goals[0]["goal_options"] == ["red"]


WEBSHOP_CASES: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
    (
        "deep products file",
        {"products": DEEP},
        (r"items_shuffle\.json: too deeply nested", "expected a JSON list"),
    ),
    ("deep attributes file", {"attributes": DEEP}, (r"items_ins_v2\.json: too deeply nested",)),
    ("deep instructions file", {"human": DEEP}, (r"items_human_ins\.json: too deeply nested",)),
    (
        "products not a list",
        {"products": {"a": 1}},
        (r"items_shuffle\.json", "list", "got an object with 1 key"),
    ),
    (
        "customization_options a list",
        {
            "products": [
                _product("B00GOOD001"),
                _product("B00BAD0001", customization_options=[{"value": "Red"}]),
            ]
        },
        (
            r"items_shuffle\.json \(item 1\)",
            "field 'customization_options' must be an object",
            "got an array of 1 item",
        ),
    ),
    (
        "an option's values not a list of objects",
        {"products": [_product("B00GOOD001", customization_options={"Size": ["9", "10"]})]},
        (r"\(item 0\): customization_options\['Size'\] must be an array of \{'value'", "got an array of 2"),
    ),
    (
        "an option value nested",
        {"products": [_product("B00GOOD001", customization_options={"Size": [{"value": NESTED}]})]},
        (r"\(item 0\)", "customization_options", "got an array of 1 item"),
    ),
    (
        "items_ins_v2 entry a list",
        {"attributes": {"B00GOOD001": ["light", "red"]}},
        (r"items_ins_v2\.json: entry 'B00GOOD001' must be an object", "got an array of 2 items"),
    ),
    (
        "items_ins_v2 attributes not strings",
        {"attributes": {"B00GOOD001": {"attributes": [1, 2]}}},
        (r"items_ins_v2\.json \(entry 'B00GOOD001'\): field 'attributes' must be an array of strings",),
    ),
    (
        "numeric name",
        {"products": [_product("B00GOOD001", name=5)]},
        (r"items_shuffle\.json \(item 0\): field 'name' must be a string, got the number 5",),
    ),
    (
        "nested name",
        {"products": [_product("B00GOOD001", name=NESTED)]},
        (r"\(item 0\): field 'name' must be a string, got an array of 1 item",),
    ),
    ("numeric asin", {"products": [_product(12345)]}, (r"\(item 0\): field 'asin' must be a string",)),
    ("numeric query", {"products": [_product("B00GOOD001", query=7)]}, (r"\(item 0\): field 'query'",)),
    ("list category", {"products": [_product("B00GOOD001", category=["a"])]}, (r"field 'category'",)),
    (
        "dict product_category",
        {"products": [_product("B00GOOD001", product_category={})]},
        (r"field 'product_category' must be a string",),
    ),
    (
        "numeric description",
        {"products": [_product("B00GOOD001", full_description=3)]},
        (r"field 'full_description' must be a string or null",),
    ),
    (
        "bullets of numbers",
        {"products": [_product("B00GOOD001", small_description=[1])]},
        (r"field 'small_description' must be a string or an array of strings",),
    ),
    (
        "images a string",
        {"products": [_product("B00GOOD001", images="a.jpg")]},
        (r"field 'images' must be an array of strings",),
    ),
    (
        "pricing a number",
        {"products": [_product("B00GOOD001", pricing=9.5)]},
        (r"field 'pricing' must be a string",),
    ),
    ("reviews an object", {"products": [_product("B00GOOD001", reviews={"a": 1})]}, (r"field 'reviews'",)),
    (
        "a review a string",
        {"products": [_product("B00GOOD001", reviews=["great"])]},
        (r"\(item 0\) review 0: expected an object",),
    ),
    (
        "rating a list",
        {"products": [_product("B00GOOD001", average_rating=[5])]},
        (r"field 'average_rating' must be a string or a number",),
    ),
    ("a product a string", {"products": ["B00GOOD001"]}, (r"\(item 0\): expected a product object",)),
    (
        "instructions an object",
        {"human": {"B00GOOD001": {"instruction": "x"}}},
        (r"items_human_ins\.json: entry 'B00GOOD001' must be an array of instruction objects",),
    ),
    (
        "an instruction a list",
        {"human": {"B00GOOD001": [["i want shoes"]]}},
        (r"items_human_ins\.json \(instruction 0 of 'B00GOOD001'\): expected an object",),
    ),
    (
        "instruction text a number",
        {"human": {"B00GOOD001": [_instruction(instruction=1)]}},
        (r"\(instruction 0 of 'B00GOOD001'\): field 'instruction' must be a string",),
    ),
    (
        "attributes nested",
        {"human": {"B00GOOD001": [_instruction(instruction_attributes=NESTED)]}},
        (r"field 'instruction_attributes' must be an array of strings, got an array of 1 item",),
    ),
    (
        "options of objects",
        {"human": {"B00GOOD001": [_instruction(instruction_options=[{"color": "red"}])]}},
        (r"field 'instruction_options' must be an array of strings",),
    ),
]


@pytest.mark.parametrize(
    ("files", "patterns"), [c[1:] for c in WEBSHOP_CASES], ids=[c[0] for c in WEBSHOP_CASES]
)
def test_webshop_malformed_files_are_one_clear_line(
    tmp_path: Path, files: dict[str, Any], patterns: tuple[str, ...]
) -> None:
    with pytest.raises(ValueError) as err:
        load_catalog(_webshop(tmp_path, **files))
    _one_line_error(err, *patterns)


def test_webshop_instruction_options_may_be_an_object(tmp_path: Path) -> None:
    """items_ins_v2-style options ``{name: value}`` are kept whole, so the reward reads their values."""
    human = {"B00GOOD001": [_instruction(instruction_options={"color": "red"})]}
    assert load_catalog(_webshop(tmp_path, human=human)).goals[0]["goal_options"] == {"color": "red"}


# --- HotPotQA: the official file and the bundled layout ------------------------------------------------
def _record(**fields: Any) -> dict[str, Any]:
    return {
        "_id": "q1",
        "question": "Where was she born?",
        "answer": "Kessford",
        "type": "bridge",
        "supporting_facts": [["Ida Orvell", 0]],
        "context": [["Ida Orvell", ["Ida Orvell was born in Kessford."]]],
        **fields,
    }


HOTPOT_CASES: list[tuple[str, Any, tuple[str, ...]]] = [
    ("deep file", DEEP, (r"hotpot\.json: too deeply nested", "expected HotPotQA's hotpot_dev_distractor")),
    ("not UTF-8", b'[{"_id": "caf\xe9"}]', (r"hotpot\.json: not UTF-8 text",)),
    ("top level an object", {"data": []}, (r"hotpot\.json: file: the top level must be a non-empty list",)),
    (
        "nested context entry",
        [_record(context=[NESTED])],
        (r"record 0 context\[0\]: expected \[title, \[sentences\]\], got an array of 1 item",),
    ),
    (
        "numeric sentence",
        [_record(), _record(_id="q2", context=[["T", ["ok", 5]]])],
        (r"record 1 context\[0\]: sentence 1 of paragraph 'T' must be a string, got the number 5",),
    ),
    (
        "boolean fact index",
        [_record(supporting_facts=[["Ida Orvell", True]])],
        (r"record 0: supporting_facts\[0\] must be \[title, sentence index\], got an array of 2 items",),
    ),
    ("numeric id", [_record(_id=7)], (r"record 0: field '_id' must be a string, got the number 7",)),
    (
        "nested type",
        [_record(type=NESTED)],
        (r"record 0: field 'type' is an array of 1 item, expected one of",),
    ),
    ("context an object", [_record(context={"T": []})], (r"record 0: field 'context' must be a list",)),
]


@pytest.mark.parametrize(
    ("payload", "patterns"), [c[1:] for c in HOTPOT_CASES], ids=[c[0] for c in HOTPOT_CASES]
)
def test_hotpotqa_malformed_official_file_is_one_clear_line(
    tmp_path: Path, payload: Any, patterns: tuple[str, ...]
) -> None:
    path = tmp_path / "hotpot.json"
    if isinstance(payload, bytes):
        path.write_bytes(payload)
    else:
        path.write_text(payload if isinstance(payload, str) else json.dumps(payload))
    with pytest.raises(HotPotQAFormatError) as err:
        load_official(path)
    _one_line_error(err, *patterns)


def _bundle(folder: Path, pages: list[str] | None = None, questions: Any = None) -> Path:
    good_page = json.dumps({"title": "Ida Orvell", "sentences": ["Ida Orvell was born in Kessford."]})
    (folder / "pages.jsonl").write_text("\n".join(pages if pages is not None else [good_page]) + "\n")
    record = {key: value for key, value in _record().items() if key != "context"}
    payload = questions if questions is not None else [record]
    (folder / "test.json").write_text(payload if isinstance(payload, str) else json.dumps(payload))
    (folder / "manifest.json").write_text("{}")
    return folder


BUNDLE_CASES: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
    (
        "deep page line",
        {"pages": ['{"title": "A", "sentences": []}', DEEP]},
        (r"pages\.jsonl: line 2: too deeply nested", "expected one JSON object"),
    ),
    ("page line a list", {"pages": ["[1, 2]"]}, (r"pages\.jsonl: line 1: expected one JSON object",)),
    (
        "numeric title",
        {"pages": ['{"title": 3, "sentences": []}']},
        (r"line 1: field 'title' must be a string",),
    ),
    (
        "nested sentences",
        {"pages": [json.dumps({"title": "A", "sentences": NESTED})]},
        (r"line 1: field 'sentences' must be a list of strings, got an array of 1 item",),
    ),
    ("deep split file", {"questions": DEEP}, (r"test\.json: too deeply nested",)),
    ("split file an object", {"questions": {"q": 1}}, (r"test\.json: expected a JSON list",)),
    ("record a string", {"questions": ["q1"]}, (r"test\.json: record 0: expected a question object",)),
    (
        "numeric answer",
        {"questions": [{**_record(), "answer": 4}]},
        (r"record 0: field 'answer' must be a string",),
    ),
    (
        "nested facts",
        {"questions": [{**_record(), "supporting_facts": [NESTED]}]},
        (r"record 0: field 'supporting_facts' must be a list of \[title, sentence index\]",),
    ),
    (
        "hop a list",
        {"questions": [{**_record(), "hops": [["A", 0]]}]},
        (r"record 0 hops\[0\]: expected an object",),
    ),
    (
        "hop keyword numbers",
        {
            "questions": [
                {
                    **_record(),
                    "hops": [
                        {"title": "A", "sentence": 0, "keywords": [1], "value": "v", "fact": "f", "need": "n"}
                    ],
                }
            ]
        },
        (r"record 0 hops\[0\]: field 'keywords' must be a list of strings",),
    ),
]


@pytest.mark.parametrize(
    ("files", "patterns"), [c[1:] for c in BUNDLE_CASES], ids=[c[0] for c in BUNDLE_CASES]
)
def test_hotpotqa_malformed_bundle_is_one_clear_line(
    tmp_path: Path, files: dict[str, Any], patterns: tuple[str, ...]
) -> None:
    with pytest.raises(ValueError) as err:
        load_bundle(_bundle(tmp_path, **files))
    _one_line_error(err, *patterns)


def test_hotpotqa_tiny_bundle_loads(tmp_path: Path) -> None:
    assert [q.id for q in load_bundle(_bundle(tmp_path)).questions("test")] == ["q1"]


# --- ALFWorld: json_2.1.1 traj_data.json and game.tw-pddl, the bundled catalog -------------------------
GOOD_GAME = {"pddl_domain": "(d)", "grammar": "g", "pddl_problem": "(p)", "solvable": True}


def _alfworld_tree(root: Path, traj: Any = None, game: Any = None) -> Path:
    """``<root>/json_2.1.1/valid_unseen/<task>/<trial>/`` with the two files (the game is only read, not
    played, when the env is built)."""
    folder = root / "json_2.1.1" / "valid_unseen" / "pick_and_place_simple-Apple-None-Fridge-1" / "trial_T1"
    folder.mkdir(parents=True)
    traj = {"task_type": "pick_and_place_simple", "pddl_params": {}} if traj is None else traj
    game = GOOD_GAME if game is None else game
    for name, payload in ((game_files.TRAJ_FILE, traj), (game_files.GAME_FILE, game)):
        (folder / name).write_text(payload if isinstance(payload, str) else json.dumps(payload))
    return folder


ALFWORLD_CASES: list[tuple[str, dict[str, Any], type[Exception], tuple[str, ...]]] = [
    (
        "deep traj_data",
        {"traj": DEEP},
        ValueError,
        (r"traj_data\.json: too deeply nested", "expected a JSON object with a string 'task_type'"),
    ),
    (
        "traj_data a list",
        {"traj": [1]},
        ValueError,
        (r"traj_data\.json: expected a JSON object", "got an array"),
    ),
    (
        "nested task_type",
        {"traj": {"task_type": NESTED, "pddl_params": {}}},
        ValueError,
        (r"traj_data\.json: field 'task_type' must be a string, got an array of 1 item",),
    ),
    (
        "pddl_params a string",
        {"traj": {"task_type": "pick_and_place_simple", "pddl_params": "x"}},
        ValueError,
        (r"traj_data\.json: field 'pddl_params' must be an object, got the string 'x'",),
    ),
    (
        "deep game file",
        {"game": DEEP},
        GameFileError,
        (r"game\.tw-pddl: too deeply nested", "expected a JSON object with string fields pddl_domain"),
    ),
    (
        "game a list",
        {"game": []},
        GameFileError,
        (r"game\.tw-pddl: expected a JSON object", "got an array of 0"),
    ),
    (
        "numeric grammar",
        {"game": {**GOOD_GAME, "grammar": 5}},
        GameFileError,
        (r"game\.tw-pddl: field 'grammar' must be a non-empty string, got the number 5",),
    ),
    (
        "nested walkthrough",
        {"game": {**GOOD_GAME, "walkthrough": [NESTED]}},
        GameFileError,
        (r"game\.tw-pddl: field 'walkthrough' must be a list of commands, got an array of 1 item",),
    ),
]


@pytest.mark.parametrize(
    ("files", "error", "patterns"), [c[1:] for c in ALFWORLD_CASES], ids=[c[0] for c in ALFWORLD_CASES]
)
def test_alfworld_malformed_official_files_are_one_clear_line(
    tmp_path: Path, files: dict[str, Any], error: type[Exception], patterns: tuple[str, ...]
) -> None:
    _alfworld_tree(tmp_path, **files)
    with pytest.raises(error) as err:
        ALFWorldEnv(split="valid_unseen", data=tmp_path)
    _one_line_error(err, *patterns)


def test_alfworld_game_deeply_nested_in_its_pddl_is_one_clear_line(tmp_path: Path) -> None:
    """Parentheses nested 100,000 deep make TextWorld's PDDL parser recurse past the limit: one line, and the
    engine loads the next game it is given."""
    engine = AlfredEngine(walkthrough=False)
    domain, grammar = upstream.domain_path().read_text(), upstream.grammar_path().read_text()
    for key in ("pddl_problem", "pddl_domain"):
        game = {"pddl_domain": domain, "grammar": grammar, "pddl_problem": "(p)"} | {
            key: "(" * 100_000 + ")" * 100_000
        }
        path = tmp_path / f"{key}.tw-pddl"
        path.write_text(json.dumps(game))
        with pytest.raises(GameFileError) as err:
            engine.load(path)
        _one_line_error(err, re.escape(str(path)), "too deeply nested")
        assert engine.game_file is None
    bad_grammar = tmp_path / "grammar.tw-pddl"
    bad_grammar.write_text(json.dumps({"pddl_domain": domain, "grammar": "(" * 5_000, "pddl_problem": "(p)"}))
    with pytest.raises(GameFileError) as err:  # TatSu's message quotes the whole text over several lines
        engine.load(bad_grammar)
    _one_line_error(err, re.escape(str(bad_grammar)), "the engine cannot load this game")


@pytest.mark.parametrize(
    ("content", "pattern"),
    [(DEEP, "too deeply nested"), ('{"games": [["x"]]}', "expected an object with a 'games' list")],
)
def test_alfworld_corrupt_catalog_is_one_clear_line(tmp_path: Path, content: str, pattern: str) -> None:
    (tmp_path / alfworld_data.CATALOG).write_text(content)
    with pytest.raises(ValueError) as err:
        alfworld_data.read_catalog(tmp_path)
    _one_line_error(err, re.escape(str(tmp_path / alfworld_data.CATALOG)), pattern, "delete it to rebuild")


def test_read_game_file_accepts_a_good_game(tmp_path: Path) -> None:
    folder = _alfworld_tree(tmp_path)
    assert read_game_file(folder / game_files.GAME_FILE)["solvable"] is True
