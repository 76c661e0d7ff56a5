"""The study runner: a YAML config, the job grid, executors (local, Ray), resumable runs into the store."""
