#!/usr/bin/env bash
# `make test-sam`: every sample event in events/ through AWS's own `sam local invoke`.
#
#   bash scripts/sam/test_sam.sh            (from any directory; run as root on a fresh machine)
#
# 1. Installs what it needs: Debian's docker.io/containerd/runc/iptables and debootstrap (when
#    missing and running as root), aws-sam-cli (pinned) in its own venv .venv-sam (it pins boto3,
#    click and cfn-lint, so never in .venv).
# 2. Uses the Docker daemon already running, else starts one it owns (data root
#    /var/lib/medserve-sam, exec root /run/medserve-sam, own socket) and stops exactly that one,
#    by its pid, on exit.
# 3. Gets public.ecr.aws/lambda/python:3.13-x86_64: already in Docker, else AWS's real image
#    (docker pull, short timeout), else the stand-in built by standin_image.sh (kept in the data
#    root: built once per machine).
# 4. `sam build` (the layer through layers/model/Makefile -> build_layer.sh, which checks wheel
#    tags against Amazon Linux 2023's glibc 2.34) into build/sam/build.
# 5. scripts/sam/invoke_events.py: a moto server on the Docker bridge address, provisioned as
#    `medserve serve` does, then `sam local invoke --skip-pull-image` per event of
#    events/manifest.yaml, checking status codes, body shapes and S3 results.
#
# Environment: SAM_CLI_VERSION (default 1.170.0), SAM_PULL_TIMEOUT (seconds, default 20),
# SAM_STANDIN=1 (never try the real image), MEDSERVE_SAM_ROOT (daemon state, default
# /var/lib/medserve-sam).
set -euo pipefail

die() { echo "test-sam: ERROR: $*" >&2; exit 1; }
log() { echo "test-sam: [$(( SECONDS ))s] $*" >&2; }
trap 'echo "test-sam: ERROR: exit $? at line $LINENO: $BASH_COMMAND" >&2' ERR

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"
SAM_CLI_VERSION="${SAM_CLI_VERSION:-1.170.0}"
SAM_VENV="$REPO/.venv-sam"
SAM="$SAM_VENV/bin/sam"
IMAGE="public.ecr.aws/lambda/python:3.13-x86_64"
WORK="$REPO/build/sam"
# Daemon state outside the repository: the stand-in image survives `make clean` and fresh clones
# (built once per machine), and paths stay short (containerd/runc socket paths under the exec root
# must fit in 108 bytes, which a deep checkout path would not guarantee).
STATE="${MEDSERVE_SAM_ROOT:-/var/lib/medserve-sam}"
EXEC_ROOT=/run/medserve-sam
export SAM_CLI_TELEMETRY=0
mkdir -p "$WORK"

# ---------------------------------------------------------------------------------------------
# 1. Tools
# ---------------------------------------------------------------------------------------------
[[ -x "$REPO/.venv/bin/python" ]] || die ".venv is missing: run 'make test' or 'make run' first (the Makefile target does)"
missing=()
command -v dockerd >/dev/null || command -v docker >/dev/null || missing+=(docker.io)
command -v dockerd >/dev/null || missing+=(docker.io containerd runc)
command -v iptables >/dev/null || missing+=(iptables)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    log "installing ${missing[*]} (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      docker.io containerd runc iptables debootstrap >/dev/null
  else
    log "missing: ${missing[*]} (not root or no apt-get: cannot install them)"
  fi
fi
command -v docker >/dev/null || die "no docker client; install Docker (Debian: apt-get install docker.io)"

if [[ ! -x "$SAM" ]] || ! "$SAM" --version 2>/dev/null | grep -q "$SAM_CLI_VERSION"; then
  log "installing aws-sam-cli==$SAM_CLI_VERSION into .venv-sam"
  PY="${PYTHON:-python3}"
  [[ -x "$SAM_VENV/bin/python" ]] || "$PY" -m venv "$SAM_VENV"
  "$SAM_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "aws-sam-cli==$SAM_CLI_VERSION"
fi
"$SAM" --version >&2

# ---------------------------------------------------------------------------------------------
# 2. Docker daemon
# ---------------------------------------------------------------------------------------------
OWN_DOCKERD_PID=""
cleanup() {
  local rc=$?
  if [[ -n "$OWN_DOCKERD_PID" ]] && kill -0 "$OWN_DOCKERD_PID" 2>/dev/null; then
    log "stopping the dockerd this run started (pid $OWN_DOCKERD_PID)"
    kill "$OWN_DOCKERD_PID" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$OWN_DOCKERD_PID" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$OWN_DOCKERD_PID" 2>/dev/null && kill -9 "$OWN_DOCKERD_PID" 2>/dev/null || true
  fi
  exit "$rc"
}
trap cleanup EXIT

if docker info >/dev/null 2>&1; then
  log "using the running Docker daemon (${DOCKER_HOST:-default socket})"
else
  command -v dockerd >/dev/null || die "Docker is not running and dockerd is not installed (run as root to let this script install docker.io)"
  [[ $(id -u) -eq 0 ]] || die "Docker is not running and starting a daemon needs root (start Docker, or run as root)"
  mkdir -p "$STATE" "$EXEC_ROOT"
  SOCK="$EXEC_ROOT/docker.sock"
  log "starting dockerd (data root $STATE, exec root $EXEC_ROOT, socket $SOCK)"
  dockerd --data-root "$STATE/docker" --exec-root "$EXEC_ROOT/x" --pidfile "$EXEC_ROOT/dockerd.pid" \
    --host "unix://$SOCK" >"$WORK/dockerd.log" 2>&1 &
  OWN_DOCKERD_PID=$!
  export DOCKER_HOST="unix://$SOCK"
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    kill -0 "$OWN_DOCKERD_PID" 2>/dev/null || break
    sleep 0.5
  done
  if ! docker info >/dev/null 2>&1; then
    tail -n 20 "$WORK/dockerd.log" >&2 || true
    die "Docker cannot run on this machine (dockerd did not come up; log above, full log $WORK/dockerd.log). test-sam needs Docker: it is not skipped."
  fi
  log "dockerd up (pid $OWN_DOCKERD_PID)"
fi
docker run --help >/dev/null  # the client talks to the daemon

# ---------------------------------------------------------------------------------------------
# 3. Base image: present, AWS's real one, or the stand-in
# ---------------------------------------------------------------------------------------------
RIE="$(ls "$SAM_VENV"/lib/python3*/site-packages/samcli/local/rapid/aws-lambda-rie-x86_64 2>/dev/null | head -n1)"
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  log "$IMAGE present: $(docker image inspect -f '{{.Comment}}' "$IMAGE" | grep -o 'stand-in' || echo "AWS's image")"
else
  pulled=""
  if [[ "${SAM_STANDIN:-0}" != 1 ]]; then
    log "docker pull $IMAGE (timeout ${SAM_PULL_TIMEOUT:-20}s)"
    if timeout "${SAM_PULL_TIMEOUT:-20}" docker pull -q "$IMAGE" >/dev/null 2>&1; then
      pulled=1; log "using AWS's real base image"
    else
      log "cannot pull $IMAGE (no network or registry unreachable): building the stand-in"
    fi
  fi
  if [[ -z "$pulled" ]]; then
    [[ -n "$RIE" ]] || die "aws-lambda-rie-x86_64 not found in the aws-sam-cli wheel ($SAM_VENV)"
    [[ $(id -u) -eq 0 ]] || die "building the stand-in image needs root (debootstrap); or make $IMAGE pullable"
    bash "$REPO/scripts/sam/standin_image.sh" "$RIE" "$IMAGE"
  fi
fi

# ---------------------------------------------------------------------------------------------
# 4. sam build
# ---------------------------------------------------------------------------------------------
# sam's python3.13 workflow validates that a python3.13 runs on PATH, even for functions without
# requirements.txt (it then only copies the code). Use a real host python3.13 if there is one, else
# a wrapper running the base image's python3.13 (the same interpreter the functions run on).
py313_ok() { "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null; }
PY313=""
if command -v python3.13 >/dev/null && py313_ok python3.13; then
  PY313="$(command -v python3.13)"
elif command -v pyenv >/dev/null; then
  for p in "$(pyenv root)"/versions/3.13*/bin/python3.13; do
    [[ -x "$p" ]] && py313_ok "$p" && { PY313="$p"; break; }
  done
fi
PYDIR="$WORK/py313"
rm -rf "$PYDIR" && mkdir -p "$PYDIR"
if [[ -n "$PY313" ]]; then
  ln -s "$PY313" "$PYDIR/python3.13"
  log "sam build: python3.13 = $PY313"
else
  cat >"$PYDIR/python3.13" <<EOF
#!/bin/sh
# python3.13 of $IMAGE for sam build's runtime check (no python3.13 on this machine)
exec docker run --rm -i --network none -v "\$PWD:\$PWD" -w "\$PWD" --entrypoint python3.13 "$IMAGE" "\$@"
EOF
  chmod 755 "$PYDIR/python3.13"
  log "sam build: python3.13 = the base image's (wrapper $PYDIR/python3.13)"
fi
log "sam build"
# MEDSERVE_REPO_ROOT: sam runs layers/model/Makefile in a scratch copy; build_layer.sh then still
# uses this repository's wheel cache and .venv python.
PATH="$PYDIR:$PATH" MEDSERVE_REPO_ROOT="$REPO" "$SAM" build --template-file template.yaml \
  --build-dir "$WORK/build" --cached --cache-dir "$WORK/cache" >"$WORK/sam-build.log" 2>&1 \
  || { tail -n 40 "$WORK/sam-build.log" >&2; die "sam build failed (log above; full log $WORK/sam-build.log)"; }
# The layer must come from layers/model/Makefile's build-ModelLayer (build_layer.sh: cp313 wheels,
# wheel tags checked against glibc 2.34, size limit), freshly or from sam's cache of that build.
grep -q 'build_layer.sh' "$WORK/sam-build.log" \
  || grep -qE '^Valid cache found, copying previously built resources for following layers \(.*ModelLayer' "$WORK/sam-build.log" \
  || die "sam build did not build ModelLayer through layers/model/Makefile (see $WORK/sam-build.log)"
grep -E "layer size:" "$WORK/sam-build.log" >&2 || log "ModelLayer: sam's cache of the previous build_layer.sh build"
# build_layer.sh may ship the package as CPython 3.13 bytecode in place of its sources (__init__.pyc).
[[ -f "$WORK/build/ModelLayer/python/medserve/__init__.py" || -f "$WORK/build/ModelLayer/python/medserve/__init__.pyc" ]] \
  || die "sam build produced no ModelLayer/python/medserve"

# ---------------------------------------------------------------------------------------------
# 5. sam local invoke, every event
# ---------------------------------------------------------------------------------------------
BRIDGE_IP="$(docker network inspect bridge -f '{{range .IPAM.Config}}{{.Gateway}}{{end}}' 2>/dev/null || true)"
[[ -n "$BRIDGE_IP" ]] || BRIDGE_IP="$(ip -4 -o addr show docker0 2>/dev/null | awk '{print $4}' | cut -d/ -f1)"
[[ -n "$BRIDGE_IP" ]] || die "cannot find the Docker bridge address (docker network inspect bridge)"
log "invoking every event (moto on $BRIDGE_IP, reachable from containers on this machine only)"
"$REPO/.venv/bin/python" "$REPO/scripts/sam/invoke_events.py" --sam "$SAM" \
  --template "$WORK/build/template.yaml" --base-image "$IMAGE" --host "$BRIDGE_IP" --work "$WORK"
log "passed in ${SECONDS}s"
