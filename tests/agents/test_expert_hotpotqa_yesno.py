"""The HotPotQA expert answers yes/no from the values it read, never from the label: official-format
files with the answer hidden or flipped, the bundled world with the hops' values wiped, and the
judgement itself on real HotPotQA sentences."""

import json
import re

import pytest

from agents.experts.hotpotqa import THOUGHTS, UNSURE_YES_NO, HotPotQAExpert
from agents.experts.hotpotqa_yesno import is_yes_no, judge
from envs.hide_privileged import HidePrivilegedInfo
from envs.hotpotqa.data import ensure_bundled
from envs.hotpotqa.env import HotPotQAEnv

DERRICKSON = ["Scott Derrickson (born July 16, 1966) is an American director, screenwriter and producer.",
              " He lives in Los Angeles, California."]
WOOD = ["Edward Davis Wood Jr. (October 10, 1924 – December 10, 1978) was an American filmmaker, actor, "
        "writer, producer, and director."]
URYSOHN = ["Pavel Samuilovich Urysohn (February 3, 1898 – August 17, 1924) was a Soviet mathematician who is "
           "best known for his contributions in dimension theory."]
LEVIN = ["Leonid Anatolievich Levin is a Soviet-American mathematician and computer scientist."]
KESSFORD = ["Kessford is a market town in the north of Valdoria.", " It has a population of 12,400."]
OSTBURY = ["Ostbury is a port city in southern Merrow.", " It is known for its mild climate."]
ARTHURS = ["Arthur's Magazine (1844–1846) was an American literary periodical published in Philadelphia in "
           "the 19th century."]
FIRST = ["First for Women is a woman's magazine published by Bauer Media Group in the USA.",
         " The magazine was started in 1989."]
LAKE = ["Lake Vimmer is a lake in the eastern hills.", " It is fed by two streams."]
RIVER = ["The Ost is a river in the eastern hills.", " It is 40 kilometres long."]

#: (id, question, answer the text supports, supporting facts, pages, the two values the thought must quote)
QUESTIONS = [
    ("nat", "Were Scott Derrickson and Ed Wood of the same nationality?", "yes",
     [["Scott Derrickson", 0], ["Ed Wood", 0]], [["Scott Derrickson", DERRICKSON], ["Ed Wood", WOOD]],
     ("American", "American")),
    ("work", "Were Pavel Urysohn and Leonid Levin known for the same type of work?", "yes",
     [["Pavel Urysohn", 0], ["Leonid Levin", 0]], [["Pavel Urysohn", URYSOHN], ["Leonid Levin", LEVIN]],
     ("mathematician", "mathematician and computer scientist")),
    ("country", "Are Kessford and Ostbury in the same country?", "no",
     [["Kessford", 0], ["Ostbury", 0]], [["Kessford", KESSFORD], ["Ostbury", OSTBURY]],
     ("Valdoria", "Merrow")),
    ("older", "Is Arthur's Magazine older than First for Women?", "yes",
     [["Arthur's Magazine", 0], ["First for Women", 1]],
     [["Arthur's Magazine", ARTHURS], ["First for Women", FIRST]], ("1844", "1989")),
    ("both", "Are Lake Vimmer and The Ost both rivers?", "no",
     [["Lake Vimmer", 0], ["The Ost", 0]], [["Lake Vimmer", LAKE], ["The Ost", RIVER]], ("a lake", "rivers")),
]
#: a yes/no question the read sentences cannot settle (nothing compares the two climates)
UNDECIDABLE = ("climate", "Do Kessford and Ostbury have the same climate?",
               [["Kessford", 0], ["Ostbury", 1]], [["Kessford", KESSFORD], ["Ostbury", OSTBURY]])


class AnswerHidden(HidePrivilegedInfo):
    """Deletes ``answer`` and gives back ``gold`` without its ``answer`` (and, with ``wipe_values``, with
    every hop's ``value`` blanked): the expert keeps only which facts matter."""

    def __init__(self, env, wipe_values: bool = False):
        super().__init__(env)
        self.wipe_values = wipe_values

    def _visible(self, info):
        visible = super()._visible(info)
        gold = {k: v for k, v in info["gold"].items() if k != "answer"}
        if self.wipe_values:
            gold["hops"] = [{**hop, "value": ""} for hop in gold["hops"]]
        visible["gold"] = gold
        return visible


def play(env, task_id):
    agent = HotPotQAExpert()
    obs, info = env.reset(options={"task_id": task_id})
    agent.reset(info)
    done = False
    while not done:
        step = agent.act(obs, info)
        obs, _, terminated, truncated, info = env.step(step.action)
        done = terminated or truncated
    return agent.episodes[0]


def write_official(path, flip_labels):
    """The fixture questions as hotpot_dev_distractor records; ``flip_labels`` stores the wrong yes/no."""
    flip = {"yes": "no", "no": "yes"}
    records = [
        {"_id": qid, "question": question, "answer": flip[answer] if flip_labels else answer,
         "type": "comparison", "supporting_facts": facts, "context": context}
        for qid, question, answer, facts, context, _ in QUESTIONS
    ]
    qid, question, facts, context = UNDECIDABLE
    records.append({"_id": qid, "question": question, "answer": "no" if flip_labels else "yes",
                    "type": "comparison", "supporting_facts": facts, "context": context})
    path.write_text(json.dumps(records))
    return path


@pytest.fixture(scope="module")
def official_plays(tmp_path_factory):
    """{how: {task id: episode}}: "hidden" (true labels, ``answer`` and ``gold["answer"]`` deleted), "true"
    and "flipped" (the file's labels as they are / all wrong, in full view of the expert)."""
    plays = {}
    for how in ("hidden", "true", "flipped"):
        path = tmp_path_factory.mktemp(how) / "hotpot_dev_distractor_v1.json"
        env = HotPotQAEnv(split="dev", data=str(write_official(path, flip_labels=how == "flipped")))
        if how == "hidden":
            env = AnswerHidden(env)
            assert "answer" not in env.reset()[1] and "answer" not in env.reset()[1]["gold"]
        plays[how] = {task_id: play(env, task_id) for task_id in env.unwrapped.task_ids}
    return plays


@pytest.mark.parametrize("qid, answer, values", [(q[0], q[2], q[5]) for q in QUESTIONS])
def test_official_yes_no_from_the_read_values_with_the_answer_hidden(official_plays, qid, answer, values):
    episode = official_plays["hidden"][qid]
    final = episode.turns[-1]
    assert final.action == f"Finish[{answer}]"
    assert all(value in final.thought for value in values), final.thought  # the comparison, stated
    read = " ".join(t.observation or "" for t in episode.turns[:-1])
    assert all(value.removeprefix("a ") in read or value in episode.task for value in values)


def test_the_label_changes_nothing(official_plays):
    """Label hidden, shown, or shown and wrong for every question: the same turns, word for word."""
    hidden, true, flipped = official_plays["hidden"], official_plays["true"], official_plays["flipped"]
    assert hidden.keys() == true.keys() == flipped.keys()
    for task_id in true:
        texts = [[t.text for t in plays[task_id].turns] for plays in (hidden, true, flipped)]
        assert texts[0] == texts[1] == texts[2], task_id


def test_text_that_settles_nothing_gets_the_said_guess_not_the_label(official_plays):
    qid = UNDECIDABLE[0]
    for how in ("true", "flipped"):  # labels "yes" and "no" in view: the same guess, said to be one
        final = official_plays[how][qid].turns[-1]
        assert final.action == f"Finish[{UNSURE_YES_NO}]"
        openers = {template.split("{")[0] for template in THOUGHTS["finish_unsure"]}
        assert any(final.thought.startswith(opener) for opener in openers), final.thought
    searches = [t.action for t in official_plays["true"][qid].turns[:-1]]
    assert searches == ["Search[Kessford]", "Search[Ostbury]"]


def test_bundled_yes_no_without_answers_or_hop_values():
    """Generated world: with the answer deleted and every hop's value wiped, each yes/no question of the
    test split is still answered right, and the thought quotes both compared values."""
    env = HotPotQAEnv(split="test", data=str(ensure_bundled()))
    questions = [q for q in env.data.questions("test") if q.answer in ("yes", "no")][:12]
    assert len(questions) == 12
    hidden = AnswerHidden(env, wipe_values=True)
    for q in questions:
        final = play(hidden, q.id).turns[-1]
        assert final.action == f"Finish[{q.answer}]", q.question
        for hop in q.hops:
            name = re.sub(r"\s*\([^)]*\)$", "", hop.title)
            assert f"{hop.value} for {name}" in final.thought, (q.question, final.thought)


def test_judge_reads_each_kind_of_comparison():
    def facts(*pairs):
        return [(name, [s.strip() for s in sentences]) for name, sentences in pairs]

    verdict = judge("Were Scott Derrickson and Ed Wood of the same nationality?",
                    facts(("Ed Wood", WOOD), ("Scott Derrickson", DERRICKSON)))
    assert (verdict.answer, verdict.values) == ("yes", ("American", "American"))
    assert verdict.relation.index("Scott Derrickson") < verdict.relation.index("Ed Wood")  # question order
    laleli = ["The Laleli Mosque is an 18th-century Ottoman imperial mosque located in Laleli, Fatih, "
              "Istanbul, Turkey."]
    esma = ["The Esma Sultan Mansion is a historical yalı located on the Bosphorus in the Ortaköy "
            "neighborhood of Istanbul, Turkey."]
    question = "Are the Laleli Mosque and Esma Sultan Mansion located in the same {}?"
    pages = facts(("Laleli Mosque", laleli), ("Esma Sultan Mansion", esma))
    assert judge(question.format("neighborhood"), pages).answer == "no"  # the most specific place each names
    assert judge(question.format("country"), pages).answer == "yes"  # the broadest: Turkey
    films = facts(("Broken Mirror", ["Broken Mirror is a musical film released in 1984."]),
                  ("Distant Orchards", ["Distant Orchards is a 2017 Belmoran musical film."]))
    verdict = judge("Do the films Broken Mirror and Distant Orchards belong to the same genre?", films)
    assert (verdict.answer, verdict.values) == ("yes", ("musical", "musical"))
    assert judge("Is First for Women older than Arthur's Magazine?",
                 facts(("Arthur's Magazine", ARTHURS), ("First for Women", FIRST))).answer == "no"
    assert judge("Are Lake Vimmer and The Ost both lakes?",
                 facts(("Lake Vimmer", LAKE), ("The Ost", RIVER))).answer == "no"
    unread = facts(("Kessford", KESSFORD), ("Ostbury", []))
    assert judge("Are Kessford and Ostbury both in the hills?", unread) is None


def test_judge_gives_none_without_a_value_or_a_known_kind():
    pages = [("Kessford", KESSFORD), ("Ostbury", OSTBURY)]
    assert judge("Do Kessford and Ostbury have the same climate?", pages) is None
    assert judge("Are Kessford and Ostbury of the same nationality?", pages) is None  # no "a Valdorian ..."
    assert judge("Were Kessford and Ostbury founded in the same year?", pages) is None
    assert is_yes_no("Are Kessford and Ostbury in the same country?")
    assert not is_yes_no("Is Kessford or Ostbury larger?") and not is_yes_no("Which is larger, A or B?")


@pytest.fixture(autouse=True)
def _bundled_data_by_default(monkeypatch):
    monkeypatch.delenv("HOTPOTQA_DATA", raising=False)
