"""How much a watch event costs the operator to decode and keep, three ways, on real events.

    .venv/bin/python bench/decode.py [--rounds 20000]

bench/data holds a Pod watch event (a three-container task Pod with its managedFields, as the
API server streams it) and an ECSTask watch event, captured from the local control plane. Each
way turns the event's line into what the caches keep (the trimmed object as packed JSON text, and
for a Pod its task, cluster, usage) and back (a reconcile unpacks what it reads):

  json     the standard library (what the caches did before)
  orjson   orjson.loads / orjson.dumps around the same trimming
  msgspec  msgspec decoding the line into Structs of only the kept fields (the rest is skipped
           while parsing), encoded back with msgspec

Prints microseconds per event for each (the best of 5 repeats; `time.process_time`, so another
process on the machine does not count), and checks that all three keep the same thing.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from ecs_operator.controller import caches, decoding

DATA = Path(__file__).resolve().parent / "data"


def stdlib_pod(line: bytes) -> tuple[Any, ...]:
    body = json.loads(line)["object"]
    trimmed = caches.trim_pod(body)
    return (json.dumps(trimmed, separators=(",", ":")), caches.owner_task(body))


def orjson_pod(line: bytes) -> tuple[Any, ...]:
    body = orjson.loads(line)["object"]
    trimmed = caches.trim_pod(body)
    return (orjson.dumps(trimmed), caches.owner_task(body))


# made once, as the caches make theirs (controller/caches.py)
POD_EVENT, CUSTOM_EVENT = decoding.decoder("pods"), decoding.decoder("custom")


def msgspec_pod(line: bytes) -> tuple[Any, ...]:
    event = POD_EVENT(line)
    return (decoding.pack(caches.trim_pod(event["object"])), caches.owner_task(event["object"]))


def stdlib_task(line: bytes) -> tuple[Any, ...]:
    return (json.dumps(caches.trim_task(json.loads(line)["object"]), separators=(",", ":")),)


def orjson_task(line: bytes) -> tuple[Any, ...]:
    return (orjson.dumps(caches.trim_task(orjson.loads(line)["object"])),)


def msgspec_task(line: bytes) -> tuple[Any, ...]:
    return (decoding.pack(caches.trim_task(CUSTOM_EVENT(line)["object"])),)


def timed(fn: Callable[[bytes], Any], line: bytes, rounds: int) -> float:
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        for _ in range(rounds):
            fn(line)
        best = min(best, time.process_time() - started)
    return best / rounds * 1e6


def unpack_cost(packed: bytes | str, loads: Callable[[Any], Any], rounds: int) -> float:
    return timed(lambda _: loads(packed), b"", rounds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20000)
    args = parser.parse_args()
    pod = (DATA / "pod-watch-event.json").read_bytes().strip()
    task = (DATA / "ecstask-watch-event.json").read_bytes().strip()
    for label, line, ways in (
            ("Pod event", pod, {"json": stdlib_pod, "orjson": orjson_pod, "msgspec": msgspec_pod}),
            ("ECSTask event", task, {"json": stdlib_task, "orjson": orjson_task, "msgspec": msgspec_task})):
        kept = {name: json.loads(fn(line)[0]) for name, fn in ways.items()}
        assert kept["json"] == kept["orjson"] == kept["msgspec"], f"{label}: the three keep different things"
        costs = {name: timed(fn, line, args.rounds) for name, fn in ways.items()}
        print(f"{label} ({len(line)} bytes) decoded and kept: "
              + ", ".join(f"{name} {us:.1f} µs" for name, us in costs.items())
              + f"  (json ÷ orjson {costs['json'] / costs['orjson']:.2f}, json ÷ msgspec "
              f"{costs['json'] / costs['msgspec']:.2f})")
        packed = stdlib_pod(line)[0] if label == "Pod event" else stdlib_task(line)[0]
        print(f"   unpacked ({len(packed)} bytes): json {unpack_cost(packed, json.loads, args.rounds):.1f} µs, "
              f"orjson {unpack_cost(packed, orjson.loads, args.rounds):.1f} µs, msgspec "
              f"{unpack_cost(packed, decoding.unpack, args.rounds):.1f} µs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
