"""``agentdistill bench``: speed and memory figures (:mod:`.cli`), the shared pieces (:mod:`.core`),
the figures of rollouts (:mod:`.rollouts`), the batched policy (:mod:`.policy`) and distillation
training (:mod:`.training`)."""
