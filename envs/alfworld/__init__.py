"""ALFWorld on the real TextWorld PDDL engine: generated games (bundled) or the official json_2.1.1 tree.

- ``env.py``: the Gymnasium env (``envs.make("alfworld")``);
- ``engine.py``: TextWorld's ``PddlEnv`` + alfworld's demangler, with speed-ups;
- ``scenes.py`` / ``generator.py`` / ``planner.py``: ALFRED floor plans and vocabulary -> PDDL games,
  and the plan that solves each one;
- ``game_files.py``: the official data layout; ``data.py``: the bundled splits in the cache;
- ``upstream.py``: importing the ``alfworld`` package without its side effects.
"""
