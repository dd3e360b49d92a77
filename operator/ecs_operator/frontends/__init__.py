"""Front ends of the ECS API layer: `kubectl ecs` (and the HTTP endpoint next)."""
