"""The ``medserve`` command line: ``serve``, ``invoke``, ``models``, ``monitor`` and ``eval``.

Heavy modules are imported inside each command so ``medserve --help`` stays instant.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="medserve", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="local HTTP API for every HttpApi route in template.yaml")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=3000)
    serve.add_argument("--template", default="template.yaml")
    serve.add_argument(
        "--aws-port", type=int, default=0, help="port of the embedded AWS (moto) endpoint; 0 = any free port"
    )
    serve.add_argument(
        "--env-vars", "-n", default=None, help="JSON file of environment overrides (sam format)"
    )

    serve.add_argument(
        "--workers",
        type=int,
        default=2,
        help="execution environments (worker processes) per function, each with its own cold start; "
        "concurrent requests beyond them wait (0: every handler in the server's process, one at a time)",
    )
    serve.add_argument(
        "--read-timeout",
        type=float,
        default=10.0,
        help="seconds a client may take to send each part of a request (the whole body: 3x) before "
        "the connection is closed",
    )
    serve.add_argument(
        "--no-auth",
        action="store_true",
        help="DANGER: serve without verifying tokens (every route open, functions skip their scope "
        "checks); for experiments only",
    )
    serve.add_argument(
        "--sagemaker-local",
        action="store_true",
        help="host demo models placed on SageMaker (real-time and async) on local endpoints behind a local "
        "SageMaker Runtime API, so the offload path runs without AWS",
    )

    endpoint = sub.add_parser("endpoint", help="the SageMaker serving container")
    esub = endpoint.add_subparsers(dest="endpoint_command", required=True)
    eserve = esub.add_parser("serve", help="GET /ping and POST /invocations, as SageMaker runs the container")
    eserve.add_argument(
        "--model-dir", default=None, help="model directory (default: $SM_MODEL_DIR or /opt/ml/model)"
    )
    eserve.add_argument("--host", default="127.0.0.1", help="0.0.0.0 inside a container")
    eserve.add_argument("--port", type=int, default=8080)

    invoke = sub.add_parser("invoke", help="invoke one function of template.yaml once, like sam local invoke")
    invoke.add_argument("function", help="logical id of an AWS::Serverless::Function, e.g. TabularFunction")
    invoke.add_argument("--event", "-e", required=True, help="event JSON file, or - for stdin")
    invoke.add_argument("--template", default="template.yaml")
    invoke.add_argument(
        "--env-vars", "-n", default=None, help="JSON file of environment overrides, as for sam local invoke"
    )
    invoke.add_argument(
        "--aws",
        action="store_true",
        help="use the AWS account the environment points at, as sam local invoke does "
        "(default: an embedded moto server holding the template's buckets and tables, no account needed)",
    )

    dead = sub.add_parser(
        "dead-letters", help="S3-triggered invokes of the local stack that failed after their retries"
    )
    dead.add_argument("--template", default="template.yaml")
    dead.add_argument("--show", default=None, help="print the whole record of this request id")

    models = sub.add_parser("models", help="the model registry")
    msub = models.add_subparsers(dest="models_command", required=True)
    lst = msub.add_parser("list", help="list bundled models (and S3 ones with --bucket)")
    lst.add_argument("--bucket", default=None, help="models bucket of the S3 registry")
    show = msub.add_parser("show", help="print a model card")
    show.add_argument("name")
    show.add_argument("--bucket", default=None)
    build = msub.add_parser("build", help="rebuild the bundled models with training/")
    build.add_argument("--if-missing", action="store_true", help="only models whose files are missing")
    build.add_argument("--out", default=None, help="write into this directory instead of the bundle")
    publish = msub.add_parser("publish", help="publish a model directory to the S3 registry")
    publish.add_argument("directory", help="directory holding model.onnx and card.json")
    publish.add_argument("--bucket", required=True)
    publish.add_argument("--alias", default="production", help="alias to point at this version ('' for none)")
    publish.add_argument(
        "--audit-bucket",
        default=None,
        help="audit bucket (stack output AuditBucketName) for the publication's audit record "
        "(default: $AUDIT_BUCKET); required",
    )

    monitor = sub.add_parser("monitor", help="production monitoring: the drift job")
    monsub = monitor.add_subparsers(dest="monitor_command", required=True)
    run = monsub.add_parser(
        "run", help="run the drift job once (MonitorFunction) and print where its reports are"
    )
    run.add_argument("--model", default=None, help="only this model (default: every captured model)")
    run.add_argument(
        "--endpoint-url",
        default=None,
        help="embedded AWS of a running `medserve serve` (its banner prints it); default $AWS_ENDPOINT_URL",
    )
    run.add_argument("--aws", action="store_true", help="the AWS account the environment names, not moto")
    run.add_argument("--bucket", default=None, help="monitoring bucket (default: the template's)")
    run.add_argument("--window-hours", type=float, default=None, help="hours of capture to read (default 24)")
    run.add_argument("--template", default="template.yaml")
    run.add_argument("--json", action="store_true", help="print the job's answer as JSON")

    evaluate = sub.add_parser("eval", help="measure a component on an annotated data set")
    vsub = evaluate.add_subparsers(dest="eval_command", required=True)
    deid = vsub.add_parser("deid", help="de-identification recall and precision per identifier type")
    deid.add_argument(
        "--set",
        default="all",
        choices=["project", "generated", "external", "presidio", "all"],
        help="(a) project corpus, (b) generated held-out notes, (c) external corpus, "
        "(d) presidio-evaluator's templates (needs that package), or all",
    )
    deid.add_argument(
        "--signal",
        default="all",
        choices=["rules", "model", "safelist", "all", "every"],
        help="one signal alone, all three combined (the service), or every one of these in turn",
    )
    deid.add_argument("--corpus", default=None, help="another annotated corpus instead of the sets")
    deid.add_argument("--split", default=None, help="only notes of this split (project: dev, heldout)")
    deid.add_argument("--json", action="store_true", help="print the report as JSON")
    deid.add_argument("--show-misses", action="store_true", help="list missed and spurious identifiers")
    deid.add_argument("--min-recall", type=float, default=None, help="exit 1 when a token recall is lower")
    return parser


class CliError(Exception):
    """A misuse the user can fix (a missing file, a busy port): one line on stderr, exit 2."""


def main(argv: Sequence[str] | None = None) -> int:
    """Every command's misuse ends in one line on stderr and a non-zero status, never a traceback;
    a traceback means a bug of ours."""
    args = _build_parser().parse_args(argv)
    prog = f"medserve {args.command}"
    try:
        return _run(args)
    except KeyboardInterrupt:
        return 130
    except CliError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a file or directory that is not there or not readable, a busy port
        where = f": {e.filename}" if e.filename else ""
        print(f"{prog}: {e.strerror or e}{where}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    if args.command == "serve":
        from devtools.local.server import main_serve

        return main_serve(args)
    if args.command == "endpoint":
        from medserve.endpoint.server import main as endpoint_main

        model_dir = ["--model-dir", args.model_dir] if args.model_dir else []
        return endpoint_main(["serve", "--host", args.host, "--port", str(args.port), *model_dir])
    if args.command == "invoke":
        from devtools.local.invoke import main_invoke

        return main_invoke(args)
    if args.command == "monitor":
        from devtools.monitor_cli import main_monitor

        return main_monitor(args)
    if args.command == "dead-letters":
        from devtools.local.dead_letters import main_dead_letters

        return main_dead_letters(args)
    if args.command == "eval":
        from devtools.deid_eval import main_eval

        return main_eval(args)
    from devtools.models_cli import main_models

    return main_models(args)


if __name__ == "__main__":
    sys.exit(main())
