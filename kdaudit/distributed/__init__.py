"""Sharded work: the shard is the contract between kdaudit and any scheduler.

``kdaudit infer --shards I-J/N`` and ``kdaudit stats --shards I-J/N`` compute a
range of shards on their own (a SLURM array task, a Kubernetes Job, a Ray actor);
the driver (the same command without ``--shards``, or ``compare --from-stats``)
checks what the workers wrote and assembles it.
"""
