"""A real Kubernetes control plane as local processes, for tests, demos and benchmarks."""
