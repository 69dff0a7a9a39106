"""Invoke every sample event of events/manifest.yaml through AWS's `sam local invoke` and check it.

Run by scripts/sam/test_sam.sh with the project's .venv python (it imports devtools.local):

1. Starts moto (``EmbeddedAWS``, exactly as ``medserve serve`` provisions it: the template's
   buckets, tables, queues and topics under their local names, the registry models published to
   the models bucket) on ``--host``, the Docker bridge address: containers on this machine reach
   it, nothing else does. S3 notifications are *not* wired: here `sam local invoke` is the only
   thing that runs a handler, the S3 events are invoked explicitly like the API events.
2. Builds a thin invoke image ``FROM <base image>`` that only adds ``AWS_ENDPOINT_URL`` (sam lets
   --env-vars override only variables the template declares, and AWS_ENDPOINT_URL is not one), and
   passes it with ``--invoke-image``: the functions' boto3 clients talk to moto.
3. Writes an --env-vars file giving each function the local names of its resources (what the
   template's !Ref / !GetAtt resolve to locally, Template.functions()).
4. For each event: puts the S3 object the manifest names (S3 events), runs
   ``sam local invoke <Function> -e events/<file> --skip-pull-image``, checks statusCode and body
   shape (2xx: no "error"; otherwise the error envelope with a code and request_id) or, for S3
   events, that every record succeeded and the result object was written.

5. Parses the ``REPORT`` line AWS's runtime interface emulator prints after every invoke
   (devtools.lambda_report: what each of its figures is, measured) and times each invoke from
   the container's creation to the response; prints one table per function at the end and writes
   it as JSON to ``<work>/sam-init.json`` (bench/report.py shows it when present).

Exit status 0 when every event passed, 1 otherwise (each failure is printed with sam's output).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from devtools import event_checks, lambda_report
from devtools.local.embedded import FAKE_CREDENTIALS, EmbeddedAWS
from devtools.local.template import Template

REPO = Path(__file__).resolve().parents[2]
INVOKE_IMAGE = "medserve-sam-test:local"


class ModeledAWS(EmbeddedAWS):
    """EmbeddedAWS without the in-process S3 trigger: only sam runs handlers here."""

    def _configure_s3_notifications(self) -> None:
        return


def last_json_line(stdout: str) -> Any:
    """sam prints the function's return value as the last line of stdout."""
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError("no JSON response on sam's stdout")


def check_response(name: str, spec: dict[str, Any], result: Any, s3: Any, bucket: str) -> list[str]:
    """The manifest's verdict on one answer (devtools.event_checks, shared with tests/local)."""
    return event_checks.check_response(
        spec, result, lambda key: s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    )


@dataclass
class SamRun:
    returncode: int
    stdout: str
    stderr_lines: list[tuple[float, str]]  # (time.monotonic() when the line arrived, line)


def run_streaming(cmd: list[str], env: dict[str, str], timeout: float) -> SamRun:
    """Run sam, stamping each stderr line as it arrives (sam flushes the container's log line by
    line): the stamps time the container's creation to the response."""
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace"
    )
    assert proc.stdout is not None and proc.stderr is not None
    lines: list[tuple[float, str]] = []
    err = proc.stderr

    def read_stderr() -> None:
        for line in err:
            lines.append((time.monotonic(), line))

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    killer = threading.Timer(timeout, proc.kill)  # a hung sam must not hang make test-sam
    killer.start()
    try:
        stdout = proc.stdout.read()
        returncode = proc.wait()
        reader.join()
    finally:
        killer.cancel()
    return SamRun(returncode, stdout, lines)


def base_image_kind(image: str) -> str:
    """``stand-in`` (scripts/sam/standin_image.sh labels its image so) or ``aws``."""
    done = subprocess.run(
        ["docker", "image", "inspect", "-f", "{{.Comment}}", image],
        capture_output=True,
        text=True,
        check=False,
    )
    return "stand-in" if "stand-in" in done.stdout else "aws"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sam", required=True)
    parser.add_argument("--template", required=True, help="the template sam build wrote")
    parser.add_argument("--base-image", required=True)
    parser.add_argument("--host", required=True, help="address moto listens on (Docker bridge)")
    parser.add_argument("--work", required=True)
    parser.add_argument("--only", nargs="*", help="event files to run (default: all)")
    parser.add_argument(
        "--jobs",
        type=int,
        default=int(os.environ.get("SAM_JOBS") or os.cpu_count() or 1),
        help="invokes at once (default: SAM_JOBS, else the number of CPUs)",
    )
    args = parser.parse_args()
    work = Path(args.work)

    manifest = yaml.safe_load((REPO / "events" / "manifest.yaml").read_text())
    template = Template.load(REPO / "template.yaml")
    functions = template.functions()  # default parameters: conditional functions left out

    with ModeledAWS(template, host=args.host) as aws:
        endpoint = aws.endpoint_url
        s3 = aws.client("s3")
        bucket = aws.buckets["UploadsBucket"]
        print(
            f"invoke_events: moto at {endpoint}; seeded models: {', '.join(aws.seeded_models) or 'none'}",
            file=sys.stderr,
        )

        dockerfile = f"FROM {args.base_image}\nENV AWS_ENDPOINT_URL={endpoint}\n"
        subprocess.run(
            ["docker", "build", "-q", "-t", INVOKE_IMAGE, "-"],
            input=dockerfile.encode(),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        env_vars = {fid: spec.environment for fid, spec in functions.items()}
        env_file = work / "env-vars.json"
        env_file.write_text(json.dumps(env_vars, indent=1))

        # sam itself: fake credentials (it hands them to the container), no endpoint of its own.
        sam_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        sam_env.update(FAKE_CREDENTIALS, AWS_DEFAULT_REGION="us-east-1", SAM_CLI_TELEMETRY="0")

        passed, failed, skipped = [], [], []
        invocations: list[lambda_report.Invocation] = []
        todo = []
        for name in sorted(manifest):
            if args.only and name not in args.only:
                continue
            spec = manifest[name]
            if spec["function"] not in functions:
                skipped.append(f"{name} ({spec['function']} is not in the template with default parameters)")
                continue
            if "s3_object" in spec:  # before any invoke: each S3 event names its own object
                obj = spec["s3_object"]
                s3.put_object(Bucket=bucket, Key=obj["key"], Body=(REPO / obj["file"]).read_bytes())
            todo.append(name)

        def run(name: str) -> tuple[str, list[str], float, str, lambda_report.Invocation]:
            spec = manifest[name]
            cmd = [
                args.sam,
                "local",
                "invoke",
                spec["function"],
                "--template-file",
                args.template,
                "--event",
                str(REPO / "events" / name),
                "--skip-pull-image",
                "--env-vars",
                str(env_file),
                "--invoke-image",
                INVOKE_IMAGE,
                "--region",
                "us-east-1",
            ]
            started = time.monotonic()
            done = run_streaming(cmd, sam_env, timeout=300)
            stderr = "".join(line for _, line in done.stderr_lines)
            invocation = lambda_report.Invocation(
                function=spec["function"],
                event=name,
                report=lambda_report.last_report(stderr),
                container_to_response_ms=lambda_report.container_to_response_ms(done.stderr_lines),
            )
            try:
                problems = check_response(name, spec, last_json_line(done.stdout), s3, bucket)
            except ValueError as exc:
                problems = [str(exc)]
            if done.returncode != 0:
                problems.insert(0, f"sam exited {done.returncode}")
            if invocation.report is None:
                problems.append("no REPORT line from the runtime interface emulator in sam's output")
            return name, problems, time.monotonic() - started, stderr, invocation

        # Each `sam local invoke` is its own container; a few at once use the machine's cores.
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            for name, problems, seconds, stderr, invocation in pool.map(run, todo):
                invocations.append(invocation)
                function = manifest[name]["function"]
                if problems:
                    failed.append(name)
                    print(f"FAIL {name} -> {function} ({seconds:.1f}s)", file=sys.stderr)
                    for p in problems:
                        print(f"     {p}", file=sys.stderr)
                    print(
                        "     --- sam stderr (tail) ---\n" + "\n".join(stderr.splitlines()[-40:]),
                        file=sys.stderr,
                    )
                else:
                    passed.append(name)
                    spec = manifest[name]
                    what = spec.get("status") or ("S3 result written" if "result_key" in spec else "")
                    what = what or f"returned {json.dumps(spec.get('returns'))}"
                    print(f"ok   {name} -> {function}: {what} ({seconds:.1f}s)", file=sys.stderr)

    print("\n" + lambda_report.render(invocations) + "\n", file=sys.stderr)
    report_file = work / "sam-init.json"
    report_file.write_text(
        json.dumps(
            {
                "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "cpus": os.cpu_count(),
                "base_image": args.base_image,
                "base_image_kind": base_image_kind(args.base_image),
                "parallel_invokes": max(1, args.jobs),
                "functions": lambda_report.summary(invocations),
            },
            indent=1,
        )
        + "\n"
    )
    print(f"invoke_events: REPORT figures written to {report_file}", file=sys.stderr)
    for s in skipped:
        print(f"skip {s}", file=sys.stderr)
    print(
        f"invoke_events: {len(passed)} passed, {len(failed)} failed, {len(skipped)} skipped "
        f"(functions invoked: {', '.join(sorted({manifest[n]['function'] for n in passed}))})",
        file=sys.stderr,
    )
    not_invoked = sorted(set(functions) - {manifest[n]["function"] for n in passed})
    if not args.only and not_invoked:
        print(
            f"invoke_events: functions of the template never invoked successfully: {not_invoked}",
            file=sys.stderr,
        )
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
