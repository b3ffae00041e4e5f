"""Running experiments: the spec, one run, the runner, shards in processes or on Ray, jobs."""
