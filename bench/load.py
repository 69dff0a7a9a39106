"""Load and soak the local stack on loopback: N clients for T seconds of mixed routes.

    python bench/load.py --clients 16 --seconds 60            # starts `medserve serve` itself
    python bench/load.py --url http://127.0.0.1:3000 --token "$TOKEN" --seconds 30
    python bench/load.py --clients 16 --seconds 30 --mix health=1,text_explain=1 --json out.json

Each client is a thread with one keep-alive connection (reopened after an error), sending the
routes of ``--mix`` in proportion to their weights. Reports requests/s, p50/p95/p99 per route,
errors by status (and transport errors), and the server's RSS (its process and its worker
processes) after warm-up and at the end. Loopback only: a ``--url`` must name 127.0.0.1 or
localhost, so this never loads anything but a local stack.

No thresholds: the numbers are this machine's; tests/local/test_load.py runs a few seconds of it
and checks only that nothing failed (zero errors, no 5xx).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _body(event_file: str, **changes: Any) -> bytes:
    body = json.loads(json.loads((REPO / "events" / event_file).read_text())["body"])
    body.update(changes)
    return json.dumps(body).encode()


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: bytes = b""
    content_type: str = "application/json"


def calls() -> dict[str, Call]:
    """The routes a mix may name, with real sample bodies from events/."""
    png = (REPO / "events" / "data" / "imaging_phantom_nodule.png").read_bytes()
    return {
        "health": Call("GET", "/v1/health"),
        "models": Call("GET", "/v1/models"),
        "card": Call("GET", "/v1/models/breast-cancer-risk"),
        "tabular": Call("POST", "/v1/tabular/predict", _body("tabular_predict.json")),
        "tabular_explain": Call("POST", "/v1/tabular/predict", _body("tabular_predict.json", explain=True)),
        "text": Call("POST", "/v1/text/predict", _body("text_predict.json", explain=False)),
        "text_explain": Call("POST", "/v1/text/predict", _body("text_predict.json", explain=True)),
        "deidentify": Call("POST", "/v1/text/deidentify", _body("text_deidentify.json")),
        "imaging": Call("POST", "/v1/imaging/predict", png, "image/png"),
        "job_unknown": Call("GET", "/v1/jobs/0123456789abcdef0123456789abcdef"),  # a 404 by design
    }


EXPECTED_4XX = {"job_unknown": {404}}  # answers that are right, not errors
DEFAULT_MIX = (
    "health=4,models=1,card=1,tabular=3,tabular_explain=1,text=2,deidentify=2,imaging=2,job_unknown=1"
)


def parse_mix(text: str) -> list[tuple[str, int]]:
    known = calls()
    mix = []
    for part in text.split(","):
        name, _, weight = part.partition("=")
        if name.strip() not in known:
            raise SystemExit(f"load.py: unknown route {name!r} in --mix (known: {', '.join(sorted(known))})")
        mix.append((name.strip(), int(weight or 1)))
    return mix


@dataclass
class Results:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    transport_errors: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, route: str, status: int, seconds: float) -> None:
        with self.lock:
            self.latencies[route].append(seconds)
            self.statuses[route][status] += 1


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def client(
    host: str, port: int, token: str, mix: list[tuple[str, int]], until: float, seed: int, out: Results
) -> None:
    rng = random.Random(seed)
    table = calls()
    names = [n for n, w in mix for _ in range(w)]
    connection: http.client.HTTPConnection | None = None
    while time.monotonic() < until:
        name = rng.choice(names)
        call = table[name]
        headers = {"authorization": f"Bearer {token}"} if token else {}
        if call.body:
            headers["content-type"] = call.content_type
        started = time.perf_counter()
        try:
            if connection is None:
                connection = http.client.HTTPConnection(host, port, timeout=60)
            connection.request(call.method, call.path, body=call.body or None, headers=headers)
            response = connection.getresponse()
            response.read()
            if response.getheader("connection", "").lower() == "close":
                connection.close()
                connection = None
        except (OSError, http.client.HTTPException) as e:
            out.transport_errors[type(e).__name__] += 1
            if connection is not None:
                connection.close()
            connection = None
            continue
        out.add(name, response.status, time.perf_counter() - started)
    if connection is not None:
        connection.close()


def rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` and all its descendants (Linux /proc), in KiB; 0 elsewhere."""
    return sum(rss_by_process(pid).values())


def rss_by_process(pid: int) -> dict[int, int]:
    """Resident memory (KiB) of ``pid`` and of each of its descendants (Linux /proc)."""
    found: dict[int, int] = {}
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            found[current] = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except (OSError, AttributeError):
            continue
        pending.extend(int(c) for c in children)
    return found


class LocalServer:
    """``medserve serve`` on a free port, as a child process; its token from the banner."""

    def __init__(self, extra_args: list[str]) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "layers" / "model"), str(REPO)])}
        command = [sys.executable, "-m", "devtools.cli", "serve", "--port", "0", *extra_args]
        self.process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        self.url, self.token = "", ""
        assert self.process.stdout is not None
        deadline = time.monotonic() + 120
        for line in self.process.stdout:
            if line.startswith("medserve local API: "):
                self.url = line.split(": ", 1)[1].strip()
            if line.strip().startswith("export TOKEN="):
                self.token = line.strip().removeprefix("export TOKEN=")
            if line.startswith("Ctrl-C stops.") or time.monotonic() > deadline:
                break
        if not self.url:
            self.stop()
            raise SystemExit("load.py: medserve serve did not start")
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for _ in self.process.stdout:
            pass

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def run(
    url: str,
    token: str,
    *,
    clients: int,
    seconds: float,
    mix: list[tuple[str, int]],
    warmup: float,
    pid: int | None,
) -> dict[str, Any]:
    parts = urlsplit(url)
    if parts.hostname not in LOOPBACK:
        raise SystemExit(f"load.py: {url} is not on loopback; this tool only loads a local stack")
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    if warmup > 0:  # every route once per client slot: cold starts out of the measurement
        run_clients(host, port, token, [(n, 1) for n, _ in mix], warmup, clients, Results())
    before = rss_by_process(pid) if pid else {}
    results = Results()
    started = time.monotonic()
    run_clients(host, port, token, mix, seconds, clients, results)
    elapsed = time.monotonic() - started
    after = rss_by_process(pid) if pid else {}
    result = report(results, elapsed, clients, sum(before.values()), sum(after.values()))
    if pid:
        # The server process (HTTP, embedded moto: it keeps every object written, audit records
        # included) apart from the workers; a worker started during the run counts as growth.
        alive = [k for k in before if k in after and k != pid]
        result["rss_kib"]["server_process"] = {"after_warmup": before.get(pid, 0), "end": after.get(pid, 0)}
        result["rss_kib"]["workers"] = {
            "after_warmup": sum(v for k, v in before.items() if k != pid),
            "end": sum(v for k, v in after.items() if k != pid),
            "count": [len(before) - 1, len(after) - 1],
            "growth_alive_throughout": sum(after[k] - before[k] for k in alive),
        }
    return result


def run_clients(
    host: str, port: int, token: str, mix: list[tuple[str, int]], seconds: float, clients: int, out: Results
) -> None:
    until = time.monotonic() + seconds
    threads = [
        threading.Thread(target=client, args=(host, port, token, mix, until, n, out), daemon=True)
        for n in range(clients)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def report(results: Results, elapsed: float, clients: int, rss_start: int, rss_end: int) -> dict[str, Any]:
    routes = {}
    errors: Counter = Counter()
    total = 0
    for name, samples in sorted(results.latencies.items()):
        statuses = results.statuses[name]
        total += len(samples)
        for status, count in statuses.items():
            if status >= 500 or (status >= 400 and status not in EXPECTED_4XX.get(name, set())):
                errors[str(status)] += count
        routes[name] = {
            "requests": len(samples),
            "p50_ms": round(percentile(samples, 50) * 1000, 1),
            "p95_ms": round(percentile(samples, 95) * 1000, 1),
            "p99_ms": round(percentile(samples, 99) * 1000, 1),
            "max_ms": round(max(samples) * 1000, 1),
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
        }
    for kind, count in results.transport_errors.items():
        errors[kind] += count
    return {
        "clients": clients,
        "seconds": round(elapsed, 1),
        "requests": total,
        "requests_per_s": round(total / elapsed, 1) if elapsed else 0.0,
        "routes": routes,
        "errors": dict(errors),
        "server_5xx": sum(v for k, v in errors.items() if k.isdigit() and int(k) >= 500),
        "rss_kib": {"after_warmup": rss_start, "end": rss_end, "growth": rss_end - rss_start},
    }


def render(result: dict[str, Any]) -> str:
    lines = [
        f"{result['clients']} clients, {result['seconds']} s: {result['requests']} requests, "
        f"{result['requests_per_s']} req/s; errors {result['errors'] or 'none'}",
        f"{'route':<16} {'n':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}  statuses",
    ]
    for name, r in result["routes"].items():
        lines.append(
            f"{name:<16} {r['requests']:>6} {r['p50_ms']:>8} {r['p95_ms']:>8} {r['p99_ms']:>8} "
            f"{r['max_ms']:>8}  {r['statuses']}"
        )
    rss = result["rss_kib"]
    if rss["end"]:
        start, end, growth = (rss[k] / 1024 for k in ("after_warmup", "end", "growth"))
        lines.append(
            f"server RSS: {start:.0f} MiB after warm-up, {end:.0f} MiB at the end ({growth:+.1f} MiB)"
        )
        if "workers" in rss:
            own, workers = rss["server_process"], rss["workers"]
            lines.append(
                f"  server process {own['after_warmup'] / 1024:.0f} -> {own['end'] / 1024:.0f} MiB; "
                f"workers {workers['count'][0]} -> {workers['count'][1]}: "
                f"{workers['after_warmup'] / 1024:.0f} -> {workers['end'] / 1024:.0f} MiB "
                f"({workers['growth_alive_throughout'] / 1024:+.1f} MiB in those alive throughout)"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--url", help="a running local stack (default: start `medserve serve` on a free port)"
    )
    parser.add_argument("--token", default="", help="bearer token for --url (the banner's TOKEN)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--warmup", type=float, default=3, help="seconds of every route before measuring")
    parser.add_argument("--mix", default=DEFAULT_MIX, help=f"route=weight,... (default {DEFAULT_MIX})")
    parser.add_argument("--serve-arg", action="append", default=[], help="extra `medserve serve` argument")
    parser.add_argument("--json", help="also write the result as JSON to this file")
    args = parser.parse_args(argv)
    mix = parse_mix(args.mix)
    server = None if args.url else LocalServer(args.serve_arg)
    try:
        url = args.url or server.url  # type: ignore[union-attr]
        token = args.token or (server.token if server else "")
        pid = server.process.pid if server else None
        result = run(
            url, token, clients=args.clients, seconds=args.seconds, mix=mix, warmup=args.warmup, pid=pid
        )
    finally:
        if server is not None:
            server.stop()
    print(render(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0 if not result["errors"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
