"""The one context rule (agents/context.py): old turns leave in blocks, so prompts keep their prefix."""
import random

from agents.context import DROP_TO, context_ids, fit_ids, turns_to_drop


def note_length(n: int) -> int:
    return 5


def test_a_drop_goes_down_to_half_the_room_and_then_holds_for_several_turns():
    head, budget, blocks = 100, 1000, [100] * 20
    counts = [turns_to_drop(head, blocks[:seen], budget, note_length) for seen in range(1, 21)]
    # nine blocks fit (1,000 tokens); the tenth pushes it over: the kept blocks go down to at most
    # DROP_TO of the 900-token room (a 550-token prompt with the note: 4 blocks), so 6 leave at once
    assert DROP_TO == 0.5
    assert counts[:9] == [0] * 9
    assert counts[9] == 6
    assert counts[10:14] == [6] * 4  # 5 to 8 kept blocks fit: nothing more leaves
    assert counts[14] == 11  # the fifteenth turn pushes it over again
    # "as few as possible" would drop one turn on every turn from the tenth on
    assert len(set(counts)) == 4


def test_the_count_never_falls_and_each_prompt_extends_the_last_until_a_drop():
    rng = random.Random(0)
    for _ in range(200):
        head = [1] * rng.randint(1, 300)
        blocks = [[rng.randint(2, 99)] * rng.randint(1, 250) for _ in range(rng.randint(1, 30))]
        budget = rng.randint(50, 1200)
        last: tuple[list[int], int] | None = None
        for seen in range(1, len(blocks) + 1):
            ids, dropped = fit_ids(head, blocks[:seen], budget, lambda n: [0] * 5)
            whole = context_ids(head, blocks[:seen], dropped, [0] * 5 if dropped else [])
            assert 0 <= dropped <= seen - 1
            # it fits whenever dropping down to the latest turn makes it fit
            if len(head) + 5 + len(blocks[seen - 1]) <= budget:
                assert len(whole) <= budget and ids == whole
            if last is not None:
                assert dropped >= last[1]
                if dropped == last[1] and len(whole) <= budget and len(last[0]) <= budget:
                    assert whole[: len(last[0])] == last[0]  # the same prefix: the KV cache holds
            last = (whole, dropped)


def test_the_latest_turn_always_stays():
    assert turns_to_drop(10, [50, 50, 5000], 100, note_length) == 2
    assert turns_to_drop(10, [5000], 100, note_length) == 0
