"""The ``REPORT`` line of AWS's Lambda runtime interface emulator, parsed, and the per-function
table ``make test-sam`` prints from the invocations (scripts/sam/invoke_events.py).

The emulator (``aws-lambda-rie``, which ``sam local invoke`` runs in the function's container)
prints after each invoke, tab-separated (captured from aws-sam-cli 1.170.0)::

    REPORT RequestId: <id>\\tInit Duration: 0.07 ms\\tDuration: 1152.49 ms\\tBilled Duration: 1153 ms\\t
    Memory Size: 1769 MB\\tMax Memory Used: 1769 MB\\t

What its fields are, checked with a function whose module sleeps 1 s at import and whose handler
sleeps 0.1 s (Init Duration 0.07 ms, Duration 1152 ms):

* ``Init Duration`` is the emulator's own init step, not the function's: the emulator starts the
  runtime when the first invoke arrives, so the runtime's start and the handler module's import
  (what Lambda reports as Init Duration) land in that invoke's ``Duration``;
* ``Duration``: the invoke reaching the emulator to the function's response. ``sam local invoke``
  runs one invoke per fresh container, so it is always a first invoke: runtime start + module
  import (init) + handler;
* ``Max Memory Used`` is not measured: the emulator prints the configured Memory Size there.

The nearest honest equivalent of Lambda's cold start is therefore ``Duration`` of the first invoke
(init + handler) and, around it, ``container_to_response_ms``: from sam's ``SAM_CONTAINER_ID`` line
(the container is created) to the emulator's ``END`` line, timed by the caller as sam's output
arrives (container start and the emulator's start included; its resolution is the time between
two lines of sam's output, a few ms).
"""

from __future__ import annotations

import re
import statistics
from dataclasses import asdict, dataclass
from typing import Any

__all__ = [
    "Invocation",
    "Report",
    "container_to_response_ms",
    "last_report",
    "parse_report",
    "render",
    "summary",
]

_FIELD = re.compile(r"(Init Duration|Billed Duration|Duration|Memory Size|Max Memory Used): ([\d.]+) (ms|MB)")


@dataclass(frozen=True)
class Report:
    """One ``REPORT`` line: milliseconds and megabytes as the emulator printed them."""

    request_id: str
    duration_ms: float
    billed_ms: float | None = None
    init_ms: float | None = None  # only on an environment's first invoke
    memory_mb: int | None = None
    max_memory_mb: int | None = None  # the emulator repeats Memory Size here (not a measurement)


def parse_report(line: str) -> Report | None:
    """The ``REPORT`` line ``line`` parsed; ``None`` when it is not one (or has no Duration)."""
    line = line.strip()
    if not line.startswith("REPORT RequestId: "):
        return None
    request_id = line.removeprefix("REPORT RequestId: ").split(maxsplit=1)[0]
    fields = {name: float(value) for name, value, _unit in _FIELD.findall(line)}
    if "Duration" not in fields:
        return None

    def mb(name: str) -> int | None:
        return int(fields[name]) if name in fields else None

    return Report(
        request_id=request_id,
        duration_ms=fields["Duration"],
        billed_ms=fields.get("Billed Duration"),
        init_ms=fields.get("Init Duration"),
        memory_mb=mb("Memory Size"),
        max_memory_mb=mb("Max Memory Used"),
    )


def last_report(output: str) -> Report | None:
    """The last ``REPORT`` line in ``output`` (sam's stderr carries the container's log)."""
    for line in reversed(output.splitlines()):
        report = parse_report(line)
        if report is not None:
            return report
    return None


def container_to_response_ms(lines: list[tuple[float, str]]) -> float | None:
    """Milliseconds from sam's ``SAM_CONTAINER_ID`` line (the container was created; sam starts it
    next) to the emulator's ``END RequestId`` line (the response is in), from ``(monotonic seconds,
    line)`` pairs stamped as sam's stderr arrived; ``None`` when either line is missing."""
    created = next((t for t, line in lines if line.startswith("SAM_CONTAINER_ID: ")), None)
    ended = next((t for t, line in lines if line.startswith("END RequestId: ")), None)
    if created is None or ended is None or ended < created:
        return None
    return round((ended - created) * 1000, 2)


@dataclass(frozen=True)
class Invocation:
    """One ``sam local invoke``: which function and event, its REPORT, and the wall time from the
    container's creation to the function's response (``None`` when a line was missing)."""

    function: str
    event: str
    report: Report | None
    container_to_response_ms: float | None = None


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def summary(invocations: list[Invocation]) -> dict[str, Any]:
    """Per function: its invocations and the medians of each figure (JSON-ready)."""
    out: dict[str, Any] = {}
    for function in sorted({i.function for i in invocations}):
        mine = [i for i in invocations if i.function == function]
        reports = [i.report for i in mine if i.report is not None]
        out[function] = {
            "invocations": [
                {
                    "event": i.event,
                    **(asdict(i.report) if i.report else {"request_id": None}),
                    "container_to_response_ms": i.container_to_response_ms,
                }
                for i in mine
            ],
            "median": {
                "init_ms": _median([r.init_ms for r in reports if r.init_ms is not None]),
                "first_invoke_duration_ms": _median([r.duration_ms for r in reports]),
                "container_to_response_ms": _median(
                    [i.container_to_response_ms for i in mine if i.container_to_response_ms is not None]
                ),
            },
            "memory_mb": next((r.memory_mb for r in reports if r.memory_mb is not None), None),
            "max_memory_used_mb": next(
                (r.max_memory_mb for r in reports if r.max_memory_mb is not None), None
            ),
        }
    return out


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def render(invocations: list[Invocation]) -> str:
    """One table per function: every invoke (each a fresh container), then the medians."""
    lines = [
        "REPORT of AWS's runtime interface emulator per `sam local invoke` (every invoke is a fresh "
        "container's first; ms). Init = the emulator's Init Duration (the module import is NOT in it: "
        "it is in Duration); Duration = runtime start + init + handler; container->response = sam "
        "created the container to the response; Max Memory Used = the emulator repeats Memory Size."
    ]
    for function, data in summary(invocations).items():
        lines.append("")
        lines.append(
            f"{function} (Memory Size {data['memory_mb'] or '-'} MB, Max Memory Used as reported "
            f"{data['max_memory_used_mb'] or '-'} MB)"
        )
        lines.append(f"  {'event':<36} {'Init':>8} {'Duration':>10} {'container->response':>20}")
        for row in data["invocations"]:
            lines.append(
                f"  {row['event']:<36} {_ms(row.get('init_ms')):>8} {_ms(row.get('duration_ms')):>10} "
                f"{_ms(row['container_to_response_ms']):>20}"
            )
        median = data["median"]
        label = f"median of {len(data['invocations'])}"
        lines.append(
            f"  {label:<36} {_ms(median['init_ms']):>8} {_ms(median['first_invoke_duration_ms']):>10} "
            f"{_ms(median['container_to_response_ms']):>20}"
        )
    return "\n".join(lines)
