#!/usr/bin/env bash
# Build the medserve Lambda layer into OUT_DIR/python (the layout Lambda mounts at /opt/python).
#
#   bash layers/model/build_layer.sh OUT_DIR        (from any directory)
#
# Called by `make layer` (OUT_DIR = build/layer) and by `sam build` through layers/model/Makefile
# (OUT_DIR = $ARTIFACTS_DIR). The layer targets the python3.13 / x86_64 Lambda runtime (Amazon
# Linux 2023, glibc 2.34) whatever the local Python is: pip cross-installs cp313 manylinux wheels,
# never builds from source.
#
# Steps: install wheels (from a local wheel cache when complete, else download into it first) ->
# copy the medserve package (runtime only: dev tooling lives in devtools/, outside the layer) -> trim -> drop what the runtime provides
# (boto3 & co) -> check wheel tags -> check the unzipped size (limit LAYER_MAX_MB, default 150).
#
# Environment:
#   LAYER_MAX_MB          size limit in MiB of OUT_DIR/python (default 150; Lambda allows 250 for
#                         function + all layers, the rest is left for the function code)
#   MEDSERVE_WHEEL_CACHE  wheel cache directory (default <repo>/build/wheel-cache)
#   MEDSERVE_REPO_ROOT    repository root, when the script is not run from its place in the repo
set -euo pipefail

trap 'echo "build_layer: ERROR: exit $? at line $LINENO: $BASH_COMMAND" >&2' ERR
die() { echo "build_layer: ERROR: $*" >&2; exit 1; }
log() { echo "build_layer: $*" >&2; }

[[ $# -eq 1 && -n "$1" ]] || { echo "usage: $0 OUT_DIR" >&2; exit 2; }

START_SECONDS=$SECONDS
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REQUIREMENTS="$SCRIPT_DIR/requirements.txt"
# Wheels installed without their declared dependencies (see the file for why each is safe).
REQUIREMENTS_NODEPS="$SCRIPT_DIR/requirements-nodeps.txt"
PACKAGE_SRC="$SCRIPT_DIR/medserve"
[[ -f "$REQUIREMENTS" ]] || die "missing $REQUIREMENTS"
[[ -f "$PACKAGE_SRC/__init__.py" ]] || die "missing $PACKAGE_SRC/__init__.py (the medserve package)"

# Repository root: explicit, or two levels up when that is the repo. `sam build` runs this script
# from a scratch copy of layers/model/, where no repo is around: the cache then goes to ~/.cache.
if [[ -n "${MEDSERVE_REPO_ROOT:-}" ]]; then
  REPO_ROOT="$(cd "$MEDSERVE_REPO_ROOT" && pwd)"
elif [[ -f "$SCRIPT_DIR/../../pyproject.toml" ]]; then
  REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
else
  REPO_ROOT=""
fi

if [[ -n "${MEDSERVE_WHEEL_CACHE:-}" ]]; then
  CACHE_ROOT="$MEDSERVE_WHEEL_CACHE"
elif [[ -n "$REPO_ROOT" ]]; then
  CACHE_ROOT="$REPO_ROOT/build/wheel-cache"
else
  CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/medserve/wheel-cache"
fi
WHEELS="$CACHE_ROOT/cp313-manylinux_2_28_x86_64"
mkdir -p "$WHEELS"

if [[ -n "$REPO_ROOT" && -x "$REPO_ROOT/.venv/bin/python" ]]; then
  PY="$REPO_ROOT/.venv/bin/python"
else
  PY="$(command -v python3)" || die "python3 not found"
fi
"$PY" -m pip --version >/dev/null 2>&1 || die "$PY has no pip"

MAX_MB="${LAYER_MAX_MB:-150}"
[[ "$MAX_MB" =~ ^[0-9]+$ ]] || die "LAYER_MAX_MB must be a whole number of MB, got '$MAX_MB'"

mkdir -p "$1"
OUT_DIR="$(cd "$1" && pwd)"
TARGET="$OUT_DIR/python"
rm -rf "$TARGET"   # clean build: nothing from a previous run survives
mkdir -p "$TARGET"

# ---------------------------------------------------------------------------------------------
# 1. Third-party wheels for cp313 / manylinux x86_64 (no sdists: nothing is compiled here).
# ---------------------------------------------------------------------------------------------
# pip does not widen --platform to older compatible tags by itself: a manylinux_2_28 target also
# accepts manylinux_2_17..2_27 and the legacy manylinux2014/2010/1 names (e.g. pydantic-core ships
# manylinux_2_17 wheels only), so list them all. 2_28 is the newest asked for, below AL2023's 2_34.
TARGET_FLAGS=(--only-binary=:all: --implementation cp --python-version 3.13)
for minor in $(seq 28 -1 17); do TARGET_FLAGS+=(--platform "manylinux_2_${minor}_x86_64"); done
TARGET_FLAGS+=(--platform manylinux2014_x86_64 --platform manylinux2010_x86_64 --platform manylinux1_x86_64)
export PIP_ROOT_USER_ACTION=ignore  # builds run as root in CI/containers; target is not the system
PIP=("$PY" -m pip --disable-pip-version-check)

# `|| return 1` on each step: called as an `if` condition, where `set -e` does not apply (a
# requirement missing from the cache once still reported "installed from the wheel cache").
install_from_cache() {
  "${PIP[@]}" install --quiet --no-index --find-links "$WHEELS" "${TARGET_FLAGS[@]}" \
    --no-compile --target "$TARGET" -r "$REQUIREMENTS" || return 1
  if [[ -f "$REQUIREMENTS_NODEPS" ]]; then
    "${PIP[@]}" install --quiet --no-index --find-links "$WHEELS" "${TARGET_FLAGS[@]}" --no-deps \
      --no-compile --target "$TARGET" -r "$REQUIREMENTS_NODEPS" || return 1
  fi
}

log "python: $PY; wheel cache: $WHEELS"
# Concurrent builds (pytest -n, make + sam build) share the cache: one writer at a time.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$CACHE_ROOT/.lock"
  flock 9
fi
if install_from_cache 2>/dev/null; then
  log "installed from the wheel cache (no download)"
else
  log "wheel cache incomplete: downloading cp313 wheels into it"
  rm -rf "$TARGET" && mkdir -p "$TARGET"
  "${PIP[@]}" download --quiet --dest "$WHEELS" "${TARGET_FLAGS[@]}" -r "$REQUIREMENTS" \
    || die "pip download failed (network? a requirement without a cp313 manylinux x86_64 wheel?)"
  if [[ -f "$REQUIREMENTS_NODEPS" ]]; then
    "${PIP[@]}" download --quiet --dest "$WHEELS" "${TARGET_FLAGS[@]}" --no-deps -r "$REQUIREMENTS_NODEPS" \
      || die "pip download of $REQUIREMENTS_NODEPS failed"
  fi
  install_from_cache || die "pip install from $WHEELS failed"
fi

if command -v flock >/dev/null 2>&1; then flock -u 9; exec 9>&-; fi

# ---------------------------------------------------------------------------------------------
# 2. The medserve package with its bundled models (runtime only: the CLI and the local emulator
#    live in devtools/, outside layers/model, so there is nothing to leave out).
# ---------------------------------------------------------------------------------------------
tar -C "$SCRIPT_DIR" --exclude='__pycache__' --exclude='*.pyc' -cf - medserve | tar -C "$TARGET" -xf -
[[ ! -e "$TARGET/devtools" ]] || die "dev tooling was copied into the layer"

# ---------------------------------------------------------------------------------------------
# 3. Trim third-party packages (not medserve): nothing here is imported at run time.
# ---------------------------------------------------------------------------------------------
cd "$TARGET"
shopt -s nullglob
rm -rf bin  # console scripts with a shebang pointing at the build machine's Python
find . -type d -name __pycache__ -prune -exec rm -rf {} +
find . -path ./medserve -prune -o -type d -name tests -prune -exec rm -rf {} +
rm -rf onnxruntime/tools onnxruntime/transformers onnxruntime/quantization numpy/f2py
# C headers, Cython declarations and type stubs: for compiling against / type-checking, not running.
find . -path ./medserve -prune -o -type d -name include -prune -exec rm -rf {} +
find . -path ./medserve -prune -o -type f \( -name '*.h' -o -name '*.pxd' -o -name '*.pyi' \
  -o -name '*.pyx' -o -name '*.c' -o -name '*.a' \) -exec rm -f {} +
rm -rf numpy/_core/lib numpy/random/_examples  # static libs + pkg-config, Cython examples
# pydicom's bundled test data (79 .dcm files, ~3 MB; also charset samples): tests read them from
# the .venv copy, the layer never does. data/palettes stays (named colour palettes are looked up).
rm -rf pydicom/data/test_files pydicom/data/charset_files

# onnxruntime/capi/libonnxruntime.so.* is the C API library for other languages; the Python
# binding (onnxruntime_pybind11_state*.so) embeds the runtime and does not link it (its NEEDED
# entries are libc/libstdc++/libm/... only). Verify that on the binary we ship before deleting.
PYBIND=(onnxruntime/capi/onnxruntime_pybind11_state*.so)
[[ ${#PYBIND[@]} -eq 1 ]] || die "expected one onnxruntime pybind module, found ${#PYBIND[@]}"
if command -v readelf >/dev/null 2>&1; then
  if readelf -d "${PYBIND[0]}" | grep -q 'NEEDED.*libonnxruntime\.so'; then
    die "${PYBIND[0]} links libonnxruntime.so: do not delete it (update build_layer.sh)"
  fi
fi
rm -f onnxruntime/capi/libonnxruntime.so.*
find . -depth -type d -empty -not -path './medserve*' -delete  # e.g. *-stubs left without .pyi
# Never strip numpy.libs/ (bundled OpenBLAS): stripping it breaks numpy.

# Pillow: medserve decodes PNG and JPEG (decode.py opens with formats=["PNG"|"JPEG"]) and, through
# pydicom, JPEG baseline and JPEG 2000: _imaging.so with libjpeg, OpenJPEG, libtiff (+zstd, lzma)
# and libxcb (+Xau), all NEEDED by _imaging.so itself. No code path loads AVIF or WebP (~5.9 MB with
# their libraries), fonts (_imagingft + FreeType/HarfBuzz/libpng/Brotli), colour management
# (_imagingcms + lcms2), Tk, ImageMath or ImageMorph; their plugins answer "not supported" when
# the module is absent. Checked against readelf before deleting: none of the kept modules needs
# the deleted libraries (tests/integration/test_layer_build.py decodes PNG, JPEG and a JPEG 2000
# DICOM from the built layer).
rm -f PIL/_avif.*.so PIL/_webp.*.so PIL/_imagingft.*.so PIL/_imagingcms.*.so PIL/_imagingtk.*.so \
  PIL/_imagingmath.*.so PIL/_imagingmorph.*.so
rm -f pillow.libs/libavif-*.so* pillow.libs/libwebp*.so* pillow.libs/libsharpyuv-*.so* \
  pillow.libs/libfreetype-*.so* pillow.libs/libharfbuzz-*.so* pillow.libs/libpng16-*.so* \
  pillow.libs/libbrotli*.so* pillow.libs/liblcms2-*.so*
if command -v readelf >/dev/null 2>&1; then
  for lib in $(readelf -d PIL/_imaging.*.so pillow.libs/*.so* | sed -n 's/.*NEEDED.*\[\(.*\)\]/\1/p' | sort -u); do
    case "$lib" in lib[cmz].so.*|libpthread.so.*|libdl.so.*|libstdc++.so.*|libgcc_s.so.*) continue ;; esac
    [[ -e "pillow.libs/$lib" ]] || die "Pillow needs $lib, which the trim deleted (update build_layer.sh)"
  done
fi
# numpy's test-only extension modules (imported by numpy's own test suite only) and numpy.testing
# (imported by nothing at run time: numpy loads it lazily on `np.testing`).
rm -f numpy/_core/_multiarray_tests.*.so numpy/_core/_umath_tests.*.so numpy/_core/_simd.*.so \
  numpy/_core/_rational_tests.*.so numpy/_core/_struct_ufunc_tests.*.so numpy/_core/_operand_flag_tests.*.so
rm -rf numpy/testing numpy/_pyinstaller numpy/typing/tests numpy/doc
# protobuf (google/): onnxruntime declares it for its model tools (deleted above); inference and
# nothing in medserve imports it (the layer test checks `google` is never imported).
rm -rf google protobuf-*.dist-info
# pydicom.sr: structured-report code dictionaries (3.2 MB of generated tables); `import pydicom`,
# its pixel decoders and medserve's DICOM reading and de-identification never import it.
rm -rf pydicom/sr
# numpy.polynomial (the Polynomial classes): loaded lazily on `np.polynomial`, which nothing in the
# layer uses (np.polyfit & co live in numpy/lib). numpy.ma must stay: np.median calls np.ma.
rm -rf numpy/polynomial
# powertools utilities that nothing in medserve, and nothing powertools loads for medserve,
# imports (checked with grep over the layer: no references from outside each directory but
# parameters <- feature_flags and parser <- batch, both deleted too). Kept: typing, data_classes,
# idempotency (+ its jmespath_utils, serialization), validation (event_handler's middleware).
for utility in auth_alpha circuit_breaker feature_flags kafka data_masking _data_masking streaming \
  parameters batch parser; do
  rm -rf "aws_lambda_powertools/utilities/$utility"
done
# powertools' bundled Swagger UI assets (1.7 MB): served only by enable_swagger(), which medserve
# does not call (the API document is /v1/openapi.json). The Python modules stay.
rm -f aws_lambda_powertools/event_handler/openapi/swagger_ui/*.js aws_lambda_powertools/event_handler/openapi/swagger_ui/*.css
# pydantic.v1 (the v1 compatibility package, 0.5 MB): imported only for v1 models and v1-style
# `__get_validators__` types, of which the layer has none (grep: no definition outside pydantic).
rm -rf pydantic/v1
# onnxruntime's ONNX-backend shim (imports onnx, which the layer does not carry: unusable) and
# its sample models; tokenizers' notebook visualiser (HTML/CSS).
rm -rf onnxruntime/backend onnxruntime/datasets tokenizers/tools
# Symbol tables of extension modules (debug and linker symbols; the dynamic symbol table that
# loading needs stays: --strip-unneeded). Never numpy.libs/ (OpenBLAS; stripping it breaks numpy).
if command -v strip >/dev/null 2>&1; then
  find . -path ./numpy.libs -prune -o -type f \( -name '*.so' -o -name '*.so.*' \) -print0 \
    | xargs -0 strip --strip-unneeded
else
  log "strip not found (binutils): extension modules keep their symbol tables (layer ~13 MB larger)"
fi

# flatbuffers and packaging: onnxruntime declares both for its model tools and quantization
# (deleted above); the inference binding, and nothing else in the layer, imports them.
if grep -rlE --include='*.py' '^[[:space:]]*(import|from)[[:space:]]+(flatbuffers|packaging)([. ]|$)' . \
    | grep -vE '^\./(flatbuffers|packaging)/' >/dev/null; then
  die "a module in the layer imports flatbuffers or packaging: do not delete them (update build_layer.sh)"
fi
rm -rf flatbuffers flatbuffers-*.dist-info packaging packaging-*.dist-info

# Packaging metadata: RECORD lists every installed file with its hash, for pip uninstall, and is
# stale here anyway (the trims above delete files it lists, the bytecode step replaces the
# sources); METADATA's long description is the project's README. Nothing reads either at run
# time; METADATA's headers (name, version, requirements) stay, so importlib.metadata still works.
# Licence files stay, untouched.
rm -f ./*.dist-info/RECORD
for metadata in ./*.dist-info/METADATA; do
  sed -i '/^$/,$d' "$metadata"  # headers end at the first blank line; the description follows
done

# Provided by the python3.13 Lambda runtime (pulled in here by aws-xray-sdk / powertools).
rm -rf boto3 boto3-*.dist-info botocore botocore-*.dist-info s3transfer s3transfer-*.dist-info \
  jmespath jmespath-*.dist-info urllib3 urllib3-*.dist-info dateutil python_dateutil-*.dist-info \
  six.py six-*.dist-info
cd - >/dev/null

# ---------------------------------------------------------------------------------------------
# 4. Every installed wheel must run on python3.13 / Amazon Linux 2023 (glibc 2.34) / x86_64.
#    (A local `sam local invoke` with a stand-in image cannot catch a glibc mismatch.)
# ---------------------------------------------------------------------------------------------
"$PY" - "$TARGET" <<'PYCHECK' || die "wheel tag check failed (see above)"
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1])
MAX_GLIBC_MINOR = 34  # Amazon Linux 2023
LEGACY = {"manylinux1_x86_64": 5, "manylinux2010_x86_64": 12, "manylinux2014_x86_64": 17}
PEP600 = re.compile(r"^manylinux_2_(\d+)_x86_64$")


def glibc_minor(platform):
    if platform in LEGACY:
        return LEGACY[platform]
    m = PEP600.match(platform)
    return int(m.group(1)) if m else None


def python_ok(interp, abi, pure):
    if pure:
        return interp.startswith("py") and abi == "none"
    if interp == "cp313":
        return abi in ("cp313", "abi3", "none")
    m = re.fullmatch(r"cp3(\d+)", interp)
    if m and abi == "abi3":
        return int(m.group(1)) <= 13  # stable ABI of an older CPython 3: loads on 3.13
    return interp.startswith("py3") and abi == "none"


problems = []
wheels = sorted(root.glob("*.dist-info/WHEEL"))
if not wheels:
    problems.append("no *.dist-info/WHEEL found")
for wheel in wheels:
    dist = wheel.parent.name
    tags = [line.split(":", 1)[1].strip() for line in wheel.read_text().splitlines()
            if line.startswith("Tag:")]
    if not tags:
        problems.append(f"{dist}: no Tag in WHEEL")
    minors = []
    for tag in tags:
        try:
            interps, abis, platforms = tag.split("-")
        except ValueError:
            problems.append(f"{dist}: malformed tag {tag!r}")
            continue
        for platform in platforms.split("."):
            pure = platform == "any"
            for interp in interps.split("."):
                for abi in abis.split("."):
                    if not python_ok(interp, abi, pure):
                        problems.append(f"{dist}: tag {tag!r} is not for CPython 3.13")
            if not pure:
                minor = glibc_minor(platform)
                if minor is None:
                    problems.append(f"{dist}: platform {platform!r} is not manylinux x86_64")
                else:
                    minors.append(minor)
    # A wheel listing several manylinux tags runs wherever its oldest (lowest) one does.
    if minors and min(minors) > MAX_GLIBC_MINOR:
        problems.append(f"{dist}: needs glibc 2.{min(minors)} > 2.{MAX_GLIBC_MINOR} (Amazon Linux 2023)")
for p in problems:
    print(f"build_layer: wheel tag check: {p}", file=sys.stderr)
if problems:
    sys.exit(1)
print(f"build_layer: wheel tags OK ({len(wheels)} distributions: py3-none-any or cp313/abi3 "
      f"manylinux x86_64, glibc <= 2.{MAX_GLIBC_MINOR})", file=sys.stderr)
PYCHECK

# ---------------------------------------------------------------------------------------------
# 5. Bytecode. /opt is read-only in Lambda, so Python cannot cache what it compiles: a layer of
#    sources is compiled again by every cold start (measured, CPython 3.13, 2-core x86_64:
#    TabularFunction's `import app` 690 ms from sources, 270 ms from bytecode). Compile with the
#    runtime's own minor version (a .pyc's magic number is per minor version: 3.13's bytecode for
#    python3.13) into the legacy location (-b: module.pyc where module.py was, which CPython
#    imports without a source), then delete the sources: bytecode is about the size of the source,
#    so the layer stays within its budget instead of carrying both (+12 MB).
#    Trade-off: a traceback from the layer names file and line but cannot print the source line.
#    Without a python3.13 here the layer keeps its sources (correct, slower to start) and says so;
#    MEDSERVE_LAYER_BYTECODE=0 keeps them on purpose (bench/layer_import.py compares the two).
# ---------------------------------------------------------------------------------------------
PY313=""
[[ "${MEDSERVE_LAYER_BYTECODE:-1}" == "0" ]] && log "MEDSERVE_LAYER_BYTECODE=0: the layer keeps its sources"
for candidate in "${MEDSERVE_PYTHON313:-}" $(command -v python3.13 || true) \
    $(ls -d "$HOME"/.pyenv/versions/3.13*/bin/python3.13 2>/dev/null | sort -r); do
  if [[ -n "$candidate" ]] && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null; then
    PY313="$candidate"; break
  fi
done
if [[ "${MEDSERVE_LAYER_BYTECODE:-1}" == "0" ]]; then
  :
elif [[ -n "$PY313" ]]; then
  "$PY313" -m compileall -q -b -j 0 --invalidation-mode unchecked-hash -s "$TARGET" -p /opt/python "$TARGET" >/dev/null || die "compileall failed ($PY313)"
  find "$TARGET" -name '*.py' -type f -delete
  log "bytecode: compiled with $("$PY313" -V 2>&1) (sources removed: Lambda cannot cache bytecode in /opt)"
else
  log "WARNING: no python3.13 found (set MEDSERVE_PYTHON313): the layer ships sources, and every cold start compiles them"
fi

# ---------------------------------------------------------------------------------------------
# 6. Size (unzipped: what counts against Lambda's 250 MB for function + layers).
# ---------------------------------------------------------------------------------------------
BYTES="$(du -sb "$TARGET" | cut -f1)"
MB="$(awk -v b="$BYTES" 'BEGIN { printf "%.1f", b / 1048576 }')"
echo "layer size: ${MB} MB unzipped (${BYTES} bytes) in ${TARGET}; limit ${MAX_MB} MB; built in $((SECONDS - START_SECONDS)) s"
if (( BYTES > MAX_MB * 1048576 )); then
  die "layer is ${MB} MB unzipped, over the ${MAX_MB} MB limit (LAYER_MAX_MB)"
fi
