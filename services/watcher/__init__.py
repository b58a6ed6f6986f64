"""The watcher: derives apps and workloads from the desired state and drives every AppVersion and
WorkloadVersion through its phases. It is the only writer of lifecycle state (DESIGN §1, §3)."""
