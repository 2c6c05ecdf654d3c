"""HotPotQA in ReAct's setting (search/lookup/finish) over a local page store: the generated world by
default, or an official HotPotQA file (``data=PATH``).

Modules: ``env`` (the Gymnasium env), ``data`` (where data comes from, the bundle cache),
``official`` (the official file format, ReAct's react500 subset), ``pages`` / ``search`` (page store,
title search), ``tasks`` (questions), ``scoring`` (official EM/F1); the generated world: ``world``
(assembles it), ``names`` (name material), ``builder`` (entities and titles), ``prose`` (pages),
``questions`` (question forms and checks).
"""
