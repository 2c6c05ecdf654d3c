"""HotPotQA in ReAct's setting (search/lookup/finish) over a local page store: the generated
world (:mod:`envs.hotpotqa.world`) by default, or an official HotPotQA file (``data=PATH``)."""
