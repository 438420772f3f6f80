"""Running the extraction work unit on cluster engines (Ray); docs/cluster.md."""
