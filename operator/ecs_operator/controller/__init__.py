"""The operator runtime: kopf handlers, level-based reconcilers, watched caches, the work queue."""
