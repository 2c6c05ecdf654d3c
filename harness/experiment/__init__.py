"""The experiment: the pipeline's presets (:mod:`.presets`), its directory layout (:mod:`.layout`),
the cached stage runner (:mod:`.stages`), the pipeline itself (:mod:`.pipeline`, the ``agentdistill
pipeline`` command) and the offline metrics of a student against its teacher (:mod:`.offline_metrics`)."""
