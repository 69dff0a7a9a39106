"""SageMaker container contract: ``GET /ping``, ``POST /invocations`` on port 8080.

``EndpointModel`` is the model (pure: payload dict in, answer dict out, testable without HTTP);
``EndpointServer`` is the HTTP server around it (standard library ``ThreadingHTTPServer``: the
container serves one model and SageMaker sends at most a few concurrent requests per instance).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

from medserve.errors import (
    InvalidInput,
    MalformedRequest,
    MedserveError,
    ModelIntegrityError,
    UnsupportedMediaType,
)
from medserve.observability import logger
from medserve.serving.cards import load_card
from medserve.serving.registry import LoadedModel
from medserve.serving.runtime import create_session, execution_providers, sha256_file
from medserve.tabular.model import TabularModel, refuse_out_of_scope, validate_records

DEFAULT_MODEL_DIR = "/opt/ml/model"
MAX_BODY_BYTES = 1024 * 1024 * 1024  # async invocations may carry up to 1 GB


class EndpointModel:
    """The one model a container serves, loaded once and verified against its card."""

    def __init__(self, model_dir: Path, threads: int | None = None) -> None:
        card = load_card(model_dir)
        files = {}
        for spec in card.artifacts():  # the ONNX file and its companions (e.g. the OOD statistics)
            path = model_dir / spec.file
            if not path.is_file() or sha256_file(path) != spec.sha256:
                raise ModelIntegrityError(f"model '{card.name}' in {model_dir} failed its integrity check")
            files[spec.file] = path
        artifact = files[card.artifact.file]
        providers = execution_providers()
        session = create_session(artifact, threads, providers=providers)
        self.loaded = LoadedModel(card=card, source="endpoint", session=session, files=files)
        self.card = card
        self.providers = session.get_providers()

    def invoke(self, payload: Any) -> dict[str, Any]:
        """One request: the modality's JSON body in, predictions (and explanations) out."""
        if not isinstance(payload, dict):
            raise MalformedRequest("the request body must be a JSON object")
        started = time.perf_counter()
        if self.card.modality == "tabular":
            records = payload.get("records")
            if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
                detail = [{"field": "records", "issue": "must be a list of objects"}]
                raise InvalidInput("records must be a list of objects", detail)
            model = TabularModel(self.loaded)
            validated = validate_records(self.card, records)
            predictions = model.predict(validated.matrix, validated.warnings)
            refuse_out_of_scope(self.card, validated.matrix, [p["ood"] for p in predictions])
            explanations = model.explain(validated.matrix) if payload.get("explain") is True else []
        else:
            raise UnsupportedMediaType(f"this container does not serve {self.card.modality} models yet")
        return {
            "model": self.loaded.envelope(),
            "predictions": predictions,
            "explanations": explanations,
            "providers": self.providers,
            "timing_ms": {"total": round((time.perf_counter() - started) * 1000, 3)},
        }


def answer(model: EndpointModel, body: bytes, content_type: str) -> tuple[int, dict[str, Any]]:
    """One ``/invocations`` request as (status, JSON): what the container answers, without HTTP."""
    try:
        if content_type.split(";")[0].strip() not in ("application/json", ""):
            raise UnsupportedMediaType("the endpoint accepts application/json")
        try:
            payload = json.loads(body)
        except ValueError as e:
            raise MalformedRequest("the request body is not valid JSON") from e
        return 200, model.invoke(payload)
    except MedserveError as e:
        return e.status, {"error": e.as_error()}
    except Exception as e:  # never echo a foreign message: it may quote the input
        logger.error("invocation failed", extra={"error_type": type(e).__name__})
        return 500, {"error": {"code": "INTERNAL", "message": "internal error"}}


class _Handler(BaseHTTPRequestHandler):
    server: EndpointServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the default access log goes to stderr unstructured; we log our own line below

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body, allow_nan=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/ping":
            self._send(200 if self.server.model is not None else 503, {"status": "ok"})
        elif self.path == "/execution-parameters":  # batch transform asks this
            params = {"MaxConcurrentTransforms": 1, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 6}
            self._send(200, params)
        else:
            self._send(404, {"error": {"code": "ROUTE_NOT_FOUND", "message": "no such route"}})

    def do_POST(self) -> None:
        started = time.perf_counter()
        if self.path != "/invocations":
            self._send(404, {"error": {"code": "ROUTE_NOT_FOUND", "message": "no such route"}})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._send(413, {"error": {"code": "PAYLOAD_TOO_LARGE", "message": "body too large"}})
            return
        body = self.rfile.read(length)
        status, answer = self.server.answer(body, self.headers.get("Content-Type", "application/json"))
        self._send(status, answer)
        elapsed = round((time.perf_counter() - started) * 1000, 2)
        logger.info("invocation", extra={"status": status, "total_ms": elapsed})


class BackgroundHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that can also run in a background thread (tests, local tools)."""

    daemon_threads = True
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"  # noqa: S104

    def start(self) -> Self:
        """Serve in a background thread until :meth:`stop`."""
        self._thread = threading.Thread(target=self.serve_forever, name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)


class EndpointServer(BackgroundHTTPServer):
    """The container's HTTP server; ``answer`` maps a body to (status, JSON) without HTTP."""

    def __init__(self, model: EndpointModel, host: str = "0.0.0.0", port: int = 8080) -> None:  # noqa: S104
        super().__init__((host, port), _Handler)
        self.model = model

    def answer(self, body: bytes, content_type: str) -> tuple[int, dict[str, Any]]:
        return answer(self.model, body, content_type)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="medserve endpoint", description="SageMaker serving container")
    parser.add_argument("command", nargs="?", default="serve", choices=["serve"])
    parser.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR", DEFAULT_MODEL_DIR))
    parser.add_argument("--host", default="0.0.0.0")  # noqa: S104 - inside the container, SageMaker connects from outside
    parser.add_argument("--port", type=int, default=int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080")))
    args = parser.parse_args(argv)
    model_dir = Path(args.model_dir)
    if not (model_dir / "card.json").is_file():
        # The container's own entry point: a misconfigured model path is one line, not a traceback.
        print(
            f"medserve endpoint: no model at {model_dir} (card.json missing): pass --model-dir or set "
            "SM_MODEL_DIR",
            file=sys.stderr,
        )
        return 2
    try:
        return serve(model_dir, args.host, args.port)
    except MedserveError as e:
        print(f"medserve endpoint: {e.message}", file=sys.stderr)
        return 2
    except OSError as e:
        print(
            f"medserve endpoint: cannot listen on {args.host}:{args.port}: {e.strerror or e}", file=sys.stderr
        )
        return 2


def serve(model_dir: Path, host: str, port: int) -> int:
    model = EndpointModel(model_dir)
    server = EndpointServer(model, host, port)
    print(
        f"medserve endpoint: {model.card.name} {model.card.version} on {server.url} "
        f"(providers: {', '.join(model.providers)})",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
