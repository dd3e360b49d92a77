"""The translation core: ECS models, their validation, and the ECS → Pod translation.

Pure code: nothing in this package imports kopf or a Kubernetes client, so every rule is
testable without a cluster (the import contract is checked in tests/unit/test_layers.py).
"""
