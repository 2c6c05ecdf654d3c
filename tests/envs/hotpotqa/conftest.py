"""A tiny file in the official HotPotQA distractor format, written per test session."""

import json

import pytest

LAKE = [
    "Lake Orvell is a glacial lake in the northern highlands.",
    " The lake covers an area of 42 square kilometres.",
    " Its eastern sector is shallow and freezes every winter.",
    " Fishing is the main activity around the lake.",
    " A ferry crosses the lake in summer.",
    " The western sector reaches a depth of 180 metres.",
    " The lake was named after the explorer Ida Orvell.",
]
EXPLORER = [
    "Ida Orvell (1790 – 1851) was an explorer and cartographer.",
    " She was born in Kessford.",
    " She mapped the northern highlands in 1822.",
]
TOWN = ["Kessford is a market town on the Dunwell River.", " It has a population of 12,400."]
LODGE = ["Orvell Lake Lodge is a hotel on the shore of Lake Orvell."]
RIVER = ["The Dunwell River flows south for 210 kilometres.", " It rises in the northern highlands."]

RECORDS = [
    {
        "_id": "q-bridge",
        "question": "Where was the explorer after whom Lake Orvell is named born?",
        "answer": "Kessford",
        "type": "bridge",
        "supporting_facts": [["Lake Orvell", 6], ["Ida Orvell", 1]],
        "context": [
            ["Lake Orvell", LAKE],
            ["Ida Orvell", EXPLORER],
            ["Orvell Lake Lodge", LODGE],
            ["Kessford", TOWN],
        ],
    },
    {
        "_id": "q-compare",
        "question": "Are Lake Orvell and the Dunwell River both rivers?",
        "answer": "no",
        "type": "comparison",
        "supporting_facts": [["Lake Orvell", 0], ["Dunwell River", 0]],
        "context": [["Dunwell River", RIVER], ["Lake Orvell", LAKE], ["Kessford", TOWN]],
    },
]


@pytest.fixture(autouse=True)
def _bundled_data_by_default(monkeypatch):
    """Tests choose their data explicitly; a user's $HOTPOTQA_DATA must not leak in."""
    monkeypatch.delenv("HOTPOTQA_DATA", raising=False)


@pytest.fixture(scope="session")
def official_file(tmp_path_factory):
    """Path of a two-question file in hotpot_dev_distractor_v1.json's format."""
    path = tmp_path_factory.mktemp("hotpot") / "hotpot_dev_distractor_v1.json"
    path.write_text(json.dumps(RECORDS))
    return path
