"""``medserve models list|show|build|publish``: the registry from the command line."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from medserve.errors import MedserveError
from medserve.security import audit
from medserve.serving.cards import CARD_FILE
from medserve.serving.registry import BUNDLED_DIR, Registry, S3ModelStore

REPO_ROOT = Path(__file__).resolve().parents[1]
# What the training scripts import (the train extra): checked before a build starts.
TRAIN_MODULES = ("sklearn", "skl2onnx", "onnx", "torch", "transformers", "lifelines")
# Bundled model -> the training script that builds it (run with `--out <dir>`).
BUILDERS = {
    "breast-cancer-risk": "training/tabular_wdbc.py",
    "cxr-nodule-phantom": "training/imaging_phantoms.py",
    "treatment-recommender-demo": "training/recommend_als.py",
}
# Registry models (too large for the layer: published to the models bucket, seeded into the
# embedded one by `medserve serve`), built into models/<name>/.
REGISTRY_BUILDERS = {
    "note-specialty": "training/text_specialty.py",
    # After its members: it runs them (and pins their sha256), note-specialty included.
    "multimodal-fusion-demo": "training/multimodal_fusion.py",
}
REGISTRY_MODELS_DIR = REPO_ROOT / "models"


def _registry(bucket: str | None) -> Registry:
    return Registry(store=S3ModelStore(bucket) if bucket else None)


def _list(args: argparse.Namespace) -> int:
    rows = [
        (c.name, c.version, c.modality, c.task, c.placement, src) for c, src in _registry(args.bucket).cards()
    ]
    widths = [
        max(len(str(r[i])) for r in [("name", "version", "modality", "task", "placement", "source"), *rows])
        for i in range(6)
    ]
    for row in [("name", "version", "modality", "task", "placement", "source"), *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)))
    return 0


def _show(args: argparse.Namespace) -> int:
    print(json.dumps(_registry(args.bucket).describe(args.name), indent=2))
    return 0


def _build(args: argparse.Namespace) -> int:
    out_root = Path(args.out) if args.out else BUNDLED_DIR
    jobs = [(name, script, out_root / name) for name, script in BUILDERS.items()]
    registry_root = Path(args.out) if args.out else REGISTRY_MODELS_DIR
    jobs += [(name, script, registry_root / name) for name, script in REGISTRY_BUILDERS.items()]
    for name, script, target in jobs:
        if args.if_missing and (target / "card.json").exists() and (target / "model.onnx").exists():
            continue
        missing = [m for m in TRAIN_MODULES if importlib.util.find_spec(m) is None]
        if missing:
            print(
                f"medserve models build: {name} needs the train extra ({', '.join(missing)} not installed): "
                "run `make models` or pip install -e '.[train]'",
                file=sys.stderr,
            )
            return 2
        path = REPO_ROOT / script
        if not path.exists():
            print(
                f"medserve: {script} not found (is this a clone of the medserve repository?)", file=sys.stderr
            )
            return 2
        print(f"building {name} with {script} -> {target}", file=sys.stderr)
        done = subprocess.run([sys.executable, str(path), "--out", str(target)], check=False)
        if done.returncode != 0:
            print(
                f"medserve: building {name} failed (the 'train' extra installs its dependencies)",
                file=sys.stderr,
            )
            return done.returncode
    return 0


def _publish(args: argparse.Namespace) -> int:
    audit_bucket = args.audit_bucket or os.environ.get("AUDIT_BUCKET", "")
    if not audit_bucket:
        print(
            "medserve: publishing is audited: give --audit-bucket <AuditBucketName> (or AUDIT_BUCKET)",
            file=sys.stderr,
        )
        return 2
    store = S3ModelStore(args.bucket)
    directory = Path(args.directory)
    card = store.publish(directory, args.alias or None)
    where = f"s3://{args.bucket}/models/{card.name}/{card.version}/"
    alias = f" (alias '{args.alias}' -> {card.version})" if args.alias else ""
    print(f"published {card.name} {card.version} to {where}{alias}")
    sha, size = audit.input_digest((directory / CARD_FILE).read_bytes())
    record = audit.AuditRecord(
        kind="publication",
        principal=_caller(),
        action=f"models publish s3://{args.bucket}" + (f" alias={args.alias}" if args.alias else ""),
        request_id=uuid.uuid4().hex,
        outcome={"status": 200, "error_code": None},
        model=card.ref(),
        input_sha256=sha,
        input_bytes=size,
    )
    trail = audit.AuditLog(audit_bucket, lambda: store.client)
    try:
        key = trail.write(record)
    except MedserveError:
        print(
            f"medserve: {card.name} {card.version} IS published, but its audit record could not be "
            f"written to s3://{audit_bucket}/: fix access and publish again (it is idempotent)",
            file=sys.stderr,
        )
        return 1
    print(f"audit record s3://{audit_bucket}/{key}")
    return 0


def _caller() -> dict[str, str]:
    """Who publishes: the IAM identity of the credentials in use (STS GetCallerIdentity)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        identity = boto3.client("sts").get_caller_identity()
    except (ClientError, BotoCoreError):
        return {"subject": "unknown", "client_id": "", "issuer": "aws:iam"}
    return {"subject": identity["Arn"], "client_id": identity["UserId"], "issuer": "aws:iam"}


def main_models(args: argparse.Namespace) -> int:
    commands = {"list": _list, "show": _show, "build": _build, "publish": _publish}
    try:
        return commands[args.models_command](args)
    except MedserveError as e:
        print(f"medserve: {e.message}", file=sys.stderr)
        for detail in e.details:
            print(f"  {detail}", file=sys.stderr)
        return 1


__all__ = ["BUILDERS", "REGISTRY_BUILDERS", "main_models"]
