"""maxResults / nextToken on the List actions, as ECS pages them.

A token names the sort key of the last item of the page it ends (opaque to clients: base64 of
JSON), so paging is stable while items come and go (none is skipped or repeated when one before
it goes), and the same token is never returned twice. The last page has no token.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from .errors import invalid_parameter

DEFAULT_PAGE = 100
Entry = tuple[Sequence[str | int], str]  # (sort key, the listed value)


def page(entries: Sequence[Entry], request: dict[str, Any], result_key: str, *, descending: bool = False,
         default: int = DEFAULT_PAGE, maximum: int = 100) -> dict[str, Any]:
    """{result_key: [values of one page], "nextToken": … unless it is the last}: `entries` in the
    order listed (by sort key, descending if so), the page the request's maxResults/nextToken ask for."""
    size = request.get("maxResults")
    if size is None:
        size = default
    elif isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= maximum:
        raise invalid_parameter(f"maxResults must be between 1 and {maximum}.")
    start = 0
    token = request.get("nextToken")
    if token:
        after = _after(token)
        try:
            start = next((i for i, (key, _) in enumerate(entries)
                          if (list(key) < after if descending else list(key) > after)), len(entries))
        except TypeError:  # a token of another list's keys
            raise invalid_parameter("Invalid nextToken.") from None
    chunk = entries[start:start + size]
    answer: dict[str, Any] = {result_key: [value for _, value in chunk]}
    if start + size < len(entries):
        last = list(chunk[-1][0])
        answer["nextToken"] = base64.urlsafe_b64encode(json.dumps(last).encode()).decode()
    return answer


def _after(token: Any) -> list[Any]:
    try:
        after = json.loads(base64.urlsafe_b64decode(str(token).encode()))
    except (ValueError, TypeError):
        raise invalid_parameter("Invalid nextToken.") from None
    if not isinstance(after, list) or not all(isinstance(part, str | int) for part in after):
        raise invalid_parameter("Invalid nextToken.")
    return after
