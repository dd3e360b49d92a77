"""Validation errors as short messages that name the field, the way users wrote it."""

from __future__ import annotations

from pydantic import ValidationError


class InvalidInput(ValueError):
    """Input that ECS would refuse. `problems` are messages, each starting with a field path."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def field_path(loc: tuple[int | str, ...]) -> str:
    """('containerDefinitions', 0, 'cpu') -> 'containerDefinitions[0].cpu'."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part.startswith(("function-", "literal[")):  # pydantic's internal validator steps
            continue
        else:
            path += f".{part}" if path else part
    return path


def describe_validation_error(err: ValidationError, prefix: str = "") -> list[str]:
    messages = []
    for item in err.errors(include_url=False):
        loc = field_path(tuple(item["loc"]))
        where = ".".join(p for p in (prefix, loc) if p) or "(input)"
        msg = item["msg"]
        raw = tuple(item["loc"])
        if (len(raw) == 3 and raw[0] in ("containerDefinitions", "containers") and raw[2] in ("name", "image")
                and (item["type"] == "missing" or item.get("input") in (None, ""))):
            # ECS's own words (RegisterTaskDefinition answers them as a ClientException).
            messages.append(f"{where}: Container.{raw[2]} should not be null or empty.")
            continue
        if raw in (("family",), ("containerDefinitions",)) and item["type"] == "missing":
            messages.append(f'{where}: Missing required parameter in input: "{raw[0]}"')
            continue
        if item["type"] == "extra_forbidden":
            msg = "unknown field (not part of the ECS API)"
        elif item["type"] == "value_error":
            msg = msg.removeprefix("Value error, ")
            error = (item.get("ctx") or {}).get("error")
            if isinstance(error, InvalidInput):
                # Model-level rules name their fields already, relative to the model.
                base = ".".join(p for p in (prefix, loc) if p)
                messages += [f"{base}.{problem}" if base else problem for problem in error.problems]
                continue
        messages.append(f"{where}: {msg}")
    return messages
