"""Amazon ECS compatibility layer for Kubernetes."""

__version__ = "0.1.0"
