#!/usr/bin/env bash
# Build a stand-in for AWS's Lambda base image public.ecr.aws/lambda/python:3.13-x86_64 and load
# it into the Docker daemon DOCKER_HOST points at (for machines that cannot pull AWS's image).
#
#   bash scripts/sam/standin_image.sh RIE_BINARY [IMAGE]
#
# RIE_BINARY: the runtime interface emulator (aws-sam-cli's wheel ships it as
# samcli/local/rapid/aws-lambda-rie-x86_64). IMAGE defaults to public.ecr.aws/lambda/python:3.13-x86_64.
#
# The image: Debian trixie (Python 3.13, the template's python3.13 runtime) debootstrapped with
# --variant=minbase --include=python3; AWS's runtime interface client (awslambdaric) and boto3
# (which the real python3.13 runtime ships and the layer leaves out) in /var/runtime; the runtime
# bootstrap /var/runtime/bootstrap; AWS's entrypoint contract /lambda-entrypoint.sh; the emulator at
# /usr/local/bin/aws-lambda-rie. What it cannot reproduce: Amazon Linux 2023's glibc (2.34) and
# system libraries. build_layer.sh checks the layer's wheel tags against glibc 2.34 for that.
set -euo pipefail
die() { echo "standin_image: ERROR: $*" >&2; exit 1; }
log() { echo "standin_image: $*" >&2; }

[[ $# -ge 1 ]] || { echo "usage: $0 RIE_BINARY [IMAGE]" >&2; exit 2; }
RIE="$1"
IMAGE="${2:-public.ecr.aws/lambda/python:3.13-x86_64}"
SUITE=trixie          # Debian 13: python3 = 3.13, as the template's Runtime: python3.13
PY_MINOR=3.13
[[ -f "$RIE" ]] || die "runtime interface emulator not found: $RIE"
command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
[[ $(id -u) -eq 0 ]] || die "debootstrap needs root"

# The Debian mirror this machine's apt already uses (one-line sources.list or deb822 .sources).
debian_mirror() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f "$f" ]] || continue
    awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /=/ && $i !~ /\]$/) { print $i; break } }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] || continue
    awk 'tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }' "$f"
  done
}
MIRROR="${DEBIAN_MIRROR:-$(debian_mirror | grep -E '/debian/?$' | head -n1)}"
[[ -n "$MIRROR" ]] || die "no Debian mirror (…/debian) found in /etc/apt/sources.list{,.d/*}; set DEBIAN_MIRROR"
log "Debian mirror from apt sources: $MIRROR"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/medserve-standin.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
R="$WORK/rootfs"

log "debootstrap $SUITE (minbase + python3) ..."
debootstrap --variant=minbase --include=python3 "$SUITE" "$R" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
  || { tail -n 30 "$WORK/debootstrap.log" >&2; die "debootstrap failed (log above)"; }
got="$(chroot "$R" python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
[[ "$got" == "$PY_MINOR" ]] || die "the $SUITE root filesystem has Python $got, not $PY_MINOR"

# AWS's runtime interface client + boto3, cross-installed as cp313 manylinux wheels (the rootfs
# has no pip). Any pip will do: the host's python3.
PIP_PY="$(command -v python3)"
FLAGS=(--only-binary=:all: --implementation cp --python-version "$PY_MINOR")
for minor in $(seq 41 -1 17); do FLAGS+=(--platform "manylinux_2_${minor}_x86_64"); done
FLAGS+=(--platform manylinux2014_x86_64 --platform manylinux1_x86_64)
log "pip install --target /var/runtime awslambdaric boto3 ..."
PIP_ROOT_USER_ACTION=ignore "$PIP_PY" -m pip install --quiet --disable-pip-version-check --no-warn-conflicts \
  "${FLAGS[@]}" --target "$R/var/runtime" awslambdaric boto3 || die "pip install awslambdaric boto3 failed"

cat >"$R/var/runtime/bootstrap" <<'EOF'
#!/bin/sh
# Stand-in runtime bootstrap: AWS's runtime interface client runs the handler.
export PYTHONPATH=/var/task:/opt/python:/var/runtime
exec /usr/bin/python3 -m awslambdaric "$_HANDLER"
EOF
chmod 755 "$R/var/runtime/bootstrap"

# AWS's contract (as in public.ecr.aws/lambda/*): one argument, the handler; without a runtime API
# in the environment, run under the emulator.
cat >"$R/lambda-entrypoint.sh" <<'EOF'
#!/bin/sh
if [ $# -ne 1 ]; then
  echo "entrypoint requires the handler name to be the first argument" 1>&2
  exit 142
fi
export _HANDLER="$1"

RUNTIME_ENTRYPOINT=/var/runtime/bootstrap
if [ -z "${AWS_LAMBDA_RUNTIME_API}" ]; then
  exec /usr/local/bin/aws-lambda-rie $RUNTIME_ENTRYPOINT
else
  exec $RUNTIME_ENTRYPOINT
fi
EOF
chmod 755 "$R/lambda-entrypoint.sh"
install -D -m 755 "$RIE" "$R/usr/local/bin/aws-lambda-rie"
mkdir -p "$R/var/task" "$R/opt"
rm -rf "$R/var/cache/apt/archives"/*.deb "$R/var/lib/apt/lists"/* 2>/dev/null || true

log "docker import -> $IMAGE ..."
tar -C "$R" -c . | docker import \
  --change 'ENTRYPOINT ["/lambda-entrypoint.sh"]' \
  --change 'WORKDIR /var/task' \
  --change 'ENV LANG=C.UTF-8 TZ=:/etc/localtime PATH=/var/lang/bin:/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin LAMBDA_TASK_ROOT=/var/task LAMBDA_RUNTIME_DIR=/var/runtime' \
  --message "medserve stand-in for $IMAGE (Debian $SUITE, Python $PY_MINOR)" \
  - "$IMAGE" >/dev/null || die "docker import failed"
docker image inspect "$IMAGE" >/dev/null || die "$IMAGE is not in docker after the import"
log "built $IMAGE (stand-in: Debian $SUITE, Python $PY_MINOR)"
