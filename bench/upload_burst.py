"""A burst of image uploads through the local stack: every PNG put under ``uploads/imaging/``
triggers ImagingFunction through the template's S3 notification; how fast do the results come?

    python bench/upload_burst.py                       # 1,000 PNG phantoms, 4 clients
    python bench/upload_burst.py --images 200 --clients 8 --json out.json

The stack is the one ``medserve serve`` runs (``LocalApi`` in this process: the HTTP API, the
embedded moto with the template's S3 notification, worker processes per function). Each client
(a thread) asks ``POST /v1/uploads`` for a ticket and PUTs the image to its presigned URL, as a
client of the deployed API does; the upload notification then invokes ImagingFunction, which
writes ``results/imaging/<job>/<file>.json`` (or ``.error.json``). A watcher looks for each
upload's result every ``--poll`` seconds (in moto's store in this process: no load on the stack)
until every result exists, or nothing new arrived for ``--stall`` seconds.

Reported: images, seconds from the first put to the last result, images/s, failures (error
results, results without exactly one prediction, missing results; plus dead-lettered invokes),
p50/p95 put-to-result latency (the PUT's answer to the result seen; resolution: the poll
interval), and a floor measured in the same run: a separate process that decodes, preprocesses
and runs the model on the same images one after the other (``medserve.imaging.decode`` +
``ImagingModel.prepare`` + bare ``session.run``).

Images: ``--distinct`` phantom radiographs from training/imaging_phantoms.py's generator (128 x
128, real-shaped, the model's training distribution), PNG-encoded and cycled over the keys;
without the training extra (torch), the bundled sample PNGs of events/data. Cold starts are kept
out: ``--warmup`` images go through the stack before the clock starts.

No thresholds: the numbers are this machine's; tests/local/test_upload_burst.py runs 20 images
and checks only that none failed and every result exists.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
SAMPLES = ["imaging_phantom_nodule.png", "imaging_phantom_without_nodule.png"]
MODEL = "cxr-nodule-phantom"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))]


def sample_images() -> list[bytes]:
    """The bundled sample PNGs (128 x 128 phantoms with and without a nodule)."""
    return [(REPO / "events" / "data" / name).read_bytes() for name in SAMPLES]


def phantom_images(distinct: int, seed: int = 20261201) -> list[bytes]:
    """``distinct`` PNG phantoms from the imaging model's own generator (half with a nodule)."""
    import numpy as np
    from PIL import Image

    sys.path.insert(0, str(REPO / "training"))
    from imaging_phantoms import phantom  # needs the training extra (torch) to import

    rng = np.random.default_rng(seed)
    out = []
    for n in range(distinct):
        img, _ = phantom(rng, nodule=n % 2 == 0)
        buffer = io.BytesIO()
        Image.fromarray(np.round(img * 255).astype(np.uint8)).save(buffer, format="PNG", optimize=True)
        out.append(buffer.getvalue())
    return out


@dataclass
class Upload:
    index: int
    result_key: str = ""
    error_key: str = ""
    put_done: float = 0.0  # time.monotonic() after the PUT answered
    seen: float = 0.0  # when the watcher first listed its result (or error result)
    seen_key: str = ""
    problem: str = ""  # a failed ticket or PUT


@dataclass
class Burst:
    uploads: list[Upload]
    started: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _request(
    connection: http.client.HTTPConnection,
    method: str,
    path: str,
    body: bytes | None,
    headers: dict[str, str],
) -> tuple[int, bytes]:
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    return response.status, response.read()


def _upload(api_url: str, token: str, image: bytes, upload: Upload, local: threading.local) -> None:
    """One client's ticket + PUT; the connections stay open per client thread (keep-alive)."""
    from medserve.aws.s3 import result_key, upload_key

    api = urlsplit(api_url)
    if getattr(local, "api", None) is None:
        local.api = http.client.HTTPConnection(api.hostname, api.port, timeout=60)
    filename = f"burst-{upload.index:04d}.png"
    body = json.dumps({"modality": "imaging", "filename": filename, "content_type": "image/png"}).encode()
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    try:
        status, raw = _request(local.api, "POST", "/v1/uploads", body, headers)
    except (OSError, http.client.HTTPException) as e:
        local.api = None
        upload.problem = f"ticket: {type(e).__name__}"
        return
    if status != 201:
        upload.problem = f"ticket: HTTP {status}"
        return
    ticket = json.loads(raw)
    key = upload_key("imaging", ticket["job_id"], filename)
    upload.result_key = result_key(key, "imaging")
    upload.error_key = result_key(key, "imaging", error=True)
    target = urlsplit(ticket["upload_url"])
    if getattr(local, "s3", None) is None:
        local.s3 = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
    path = target.path + (f"?{target.query}" if target.query else "")
    try:
        status, _ = _request(local.s3, "PUT", path, image, ticket["headers"])
    except (OSError, http.client.HTTPException) as e:
        local.s3 = None
        upload.problem = f"put: {type(e).__name__}"
        return
    upload.put_done = time.monotonic()
    if status != 200:
        upload.problem = f"put: HTTP {status}"


def result_lookup(api: Any, bucket: str) -> Callable[[str], bool]:
    """Whether a key exists in the uploads bucket, asked of moto's S3 store in this process (a
    dictionary lookup: ListObjectsV2 of 1,000 keys costs moto ~0.4 s of the CPU the stack runs
    on, so polling it would slow what it measures); a HeadObject where that store is not here."""
    try:
        from moto.s3.models import s3_backends

        from devtools.local.template import LOCAL_ACCOUNT_ID

        backend = s3_backends[LOCAL_ACCOUNT_ID]["global"]
        backend.get_bucket(bucket)
    except Exception:  # another moto layout: ask over HTTP (exact, but it loads the stack)
        s3 = api.aws.client("s3")

        def head(key: str) -> bool:
            try:
                s3.head_object(Bucket=bucket, Key=key)
            except Exception:
                return False
            return True

        return head
    return lambda key: backend.get_object(bucket, key) is not None


def _watch(exists: Callable[[str], bool], burst: Burst, done: threading.Event, poll: float) -> None:
    """Until ``done``: the first time each upload's result (or error result) exists."""
    while not done.is_set():
        with burst.lock:
            pending = [u for u in burst.uploads if u.result_key and not u.seen]
        for upload in pending:
            for key in (upload.result_key, upload.error_key):
                if exists(key):
                    upload.seen, upload.seen_key = time.monotonic(), key
                    break
        done.wait(poll)


def run_burst(
    api: Any,
    images: list[bytes],
    count: int,
    *,
    clients: int = 4,
    poll: float = 0.02,
    stall: float = 120.0,
) -> dict[str, Any]:
    """``count`` uploads through ``api`` (a started LocalApi), ``images`` cycled; the figures."""
    assert api.aws is not None, "the burst needs the embedded AWS (its S3 notification)"
    s3 = api.aws.client("s3")
    bucket = api.aws.buckets["UploadsBucket"]
    token = api.issue_token()
    dead_before = len(api.aws.dead_letters)
    burst = Burst([Upload(i) for i in range(count)])
    done = threading.Event()
    exists = result_lookup(api, bucket)
    watcher = threading.Thread(target=_watch, args=(exists, burst, done, poll), daemon=True)
    local = threading.local()
    burst.started = time.monotonic()
    watcher.start()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        for upload in burst.uploads:
            pool.submit(_upload, api.url, token, images[upload.index % len(images)], upload, local)
    puts_done = time.monotonic()
    # Wait for every result, or until nothing new arrived for `stall` seconds.
    last_progress, last_seen = time.monotonic(), -1
    while True:
        with burst.lock:
            pending = [u for u in burst.uploads if not u.problem and not u.seen]
            seen = sum(1 for u in burst.uploads if u.seen)
        if not pending:
            break
        if seen != last_seen:
            last_progress, last_seen = time.monotonic(), seen
        elif time.monotonic() - last_progress > stall:
            break
        time.sleep(poll)
    done.set()
    watcher.join()
    return _figures(burst, s3, bucket, puts_done, len(api.aws.dead_letters) - dead_before, clients, images)


def _figures(
    burst: Burst, s3: Any, bucket: str, puts_done: float, dead_letters: int, clients: int, images: list[bytes]
) -> dict[str, Any]:
    failures: dict[str, int] = {"ticket_or_put": 0, "error_result": 0, "bad_result": 0, "missing": 0}
    latencies = []
    for upload in burst.uploads:
        if upload.problem:
            failures["ticket_or_put"] += 1
        elif not upload.seen:
            failures["missing"] += 1
        elif upload.seen_key == upload.error_key:
            failures["error_result"] += 1
        else:
            written = json.loads(s3.get_object(Bucket=bucket, Key=upload.result_key)["Body"].read())
            if "error" in written or len(written.get("predictions", [])) != 1:
                failures["bad_result"] += 1
            latencies.append(upload.seen - upload.put_done)
    seen = [u.seen for u in burst.uploads if u.seen]
    puts = [u.put_done for u in burst.uploads if u.put_done]
    first_put = min(puts) if puts else burst.started
    seconds = (max(seen) - first_put) if seen else float("nan")
    ok = len(latencies) - failures["bad_result"]
    return {
        "images": len(burst.uploads),
        "distinct_images": len(images),
        "clients": clients,
        "seconds_first_put_to_last_result": round(seconds, 2),
        "seconds_of_puts": round(puts_done - burst.started, 2),
        "images_per_s": round(ok / seconds, 1) if seen and seconds > 0 else 0.0,
        "succeeded": ok,
        "failures": sum(failures.values()),
        "failures_by_kind": failures,
        "dead_letters": dead_letters,
        "put_to_result_p50_s": round(percentile(latencies, 50), 3),
        "put_to_result_p95_s": round(percentile(latencies, 95), 3),
    }


def floor(image_dir: Path, count: int) -> dict[str, Any]:
    """Images/s of decode + preprocess + bare session.run, one image after another, in this process
    (run as ``--floor DIR``: a fresh process, the bundled model as ImagingFunction loads it)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import load_handler

    load_handler("ImagingFunction")  # the function's module and environment: its services and model
    from medserve.imaging.decode import decode
    from medserve.imaging.model import ImagingModel
    from medserve.services import get_services

    model = ImagingModel(get_services().registry.load(MODEL))
    card, session = model.card, model.loaded.session
    outputs = [card.outputs.probability_tensor]
    images = [p.read_bytes() for p in sorted(image_dir.glob("*.png"))]

    def once(data: bytes) -> None:
        session.run(outputs, {card.inputs.tensor: model.prepare(decode(data)).tensor[None, None]})

    for data in images[:10]:  # warm: first runs allocate
        once(data)
    started = time.perf_counter()
    for n in range(count):
        once(images[n % len(images)])
    seconds = time.perf_counter() - started
    return {"images": count, "seconds": round(seconds, 3), "images_per_s": round(count / seconds, 1)}


def measure_floor(images: list[bytes], count: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        for n, data in enumerate(images):
            (Path(tmp) / f"{n:04d}.png").write_bytes(data)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "layers" / "model"), str(REPO)])}
        done = subprocess.run(
            [sys.executable, __file__, "--floor", tmp, "--images", str(count)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


def render(result: dict[str, Any]) -> str:
    b, f = result["burst"], result.get("floor")
    lines = [
        f"upload burst: {b['images']} PNG uploads ({b['distinct_images']} distinct images), "
        f"{b['clients']} clients, POST /v1/uploads + presigned PUT -> S3 notification -> ImagingFunction",
        f"  {b['seconds_first_put_to_last_result']} s first put to last result, "
        f"{b['images_per_s']} images/s; puts took {b['seconds_of_puts']} s",
        f"  failures {b['failures']} {b['failures_by_kind']}, dead-lettered invokes {b['dead_letters']}",
        f"  put-to-result p50 {b['put_to_result_p50_s']} s, p95 {b['put_to_result_p95_s']} s",
    ]
    if f:
        lines.append(
            f"  floor (one process, decode + preprocess + session.run, one image after another): "
            f"{f['images_per_s']} images/s; burst / floor = {result['ratio_to_floor']:.3f}"
        )
    lines.append(f"  {result['machine']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--distinct", type=int, default=50, help="distinct phantoms, cycled over the uploads")
    parser.add_argument("--warmup", type=int, default=4, help="uploads through the stack before the clock")
    parser.add_argument("--workers", type=int, default=None, help="worker processes per function")
    parser.add_argument("--poll", type=float, default=0.02, help="seconds between looks for the results")
    parser.add_argument("--stall", type=float, default=120, help="give up after this long without a result")
    parser.add_argument("--no-floor", action="store_true")
    parser.add_argument("--json", help="also write the result as JSON to this file")
    parser.add_argument("--floor", metavar="DIR", help=argparse.SUPPRESS)  # the floor's own process
    args = parser.parse_args(argv)
    if args.floor:
        print(json.dumps(floor(Path(args.floor), args.images)))
        return 0

    from devtools.local.server import LocalApi
    from devtools.local.template import Template

    try:
        images = phantom_images(args.distinct)
    except ImportError:  # no training extra: the bundled samples
        images = sample_images()
    extra = {} if args.workers is None else {"workers": args.workers}
    api = LocalApi(Template.load(REPO / "template.yaml"), port=0, **extra).start()
    try:
        if args.warmup:
            run_burst(api, images, args.warmup, clients=1)
        burst = run_burst(api, images, args.images, clients=args.clients, poll=args.poll, stall=args.stall)
    finally:
        api.stop()
    result: dict[str, Any] = {
        "burst": burst,
        "machine": f"{os.cpu_count()}-core {platform.machine()}, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
    }
    if not args.no_floor:
        result["floor"] = measure_floor(images, max(200, min(args.images, 1000)))
        result["ratio_to_floor"] = burst["images_per_s"] / result["floor"]["images_per_s"]
    print(render(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0 if burst["failures"] == 0 and burst["dead_letters"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
