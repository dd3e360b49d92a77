"""The pure ECS core: models, validation, the ECS → Pod translation, status, ARNs, CRDs.

Nothing in this package imports kopf, a Kubernetes client or another part of the operator, so
every rule is testable without a cluster (import-linter checks it in `make test`; the contracts
are in pyproject.toml).
"""
