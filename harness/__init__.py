"""The run-time of agentdistill: rollouts on Ray (:mod:`.rollout`), episode logs (:mod:`.logs`),
metrics (:mod:`.metrics`), evaluation (:mod:`.evaluate`) and the ``agentdistill`` command
(:mod:`.cli`, errors in :mod:`.errors`); the experiment (:mod:`.experiment`: presets, layout, cached
stages, the pipeline, offline metrics), its report (:mod:`.report`) and the bench (:mod:`.bench`).
The contracts are in docs/design.md."""
