#!/usr/bin/env bash
# Set up rechargebench on this machine; idempotent and quiet, a re-run with nothing to do
# takes a fraction of a second.
#
#   1. Debian packages the bench needs (PostgreSQL, PC/SC, socat, gcc): as root, the missing
#      ones are installed (apt-get update once, then apt-get install); not as root, the
#      exact command is printed and setup goes on (tests needing them skip, or fail in CI).
#   2. .venv with Python >= 3.11 (python3.11 first; $RBENCH_PYTHON to choose another).
#   3. `pip install -e .` into .venv, only when pyproject.toml (or the checkout's path, the
#      Python, or the set of missing Debian packages) changed since the last install: a
#      stamp file in .venv holds the hash.
#
# Environment: RBENCH_VERBOSE=1 shows what is done; RBENCH_PYTHON=/path/python3.x.
set -euo pipefail

ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$ROOT"

DEB_PACKAGES=(postgresql libpcsclite-dev pcscd vsmartcard-vpcd socat gcc)
VENV="$ROOT/.venv"
STAMP="$VENV/.rbench-install-stamp"
VERBOSE="${RBENCH_VERBOSE:-0}"

say() { echo "setup: $*" >&2; }
info() { if [ "$VERBOSE" = 1 ]; then echo "setup: $*" >&2; fi; }
die() { echo "setup: ERROR: $*" >&2; exit 1; }

# Run a command with its output in a log; on failure show the log's end and stop.
run_logged() {
    local what="$1"; shift
    local log
    log="$(mktemp "${TMPDIR:-/tmp}/rbench-setup.XXXXXX.log")"
    local rc=0
    if [ "$VERBOSE" = 1 ]; then
        "$@" > >(tee "$log" >&2) 2>&1 || rc=$?
    else
        "$@" >"$log" 2>&1 || rc=$?
    fi
    if [ "$rc" -ne 0 ]; then
        echo "setup: ERROR: $what failed (exit $rc): $*" >&2
        tail -n 40 "$log" | sed 's/^/  | /' >&2
        echo "setup: full log: $log" >&2
        exit "$rc"
    fi
    rm -f "$log"
}

# One setup at a time per checkout and user (two ./rb started together).
if command -v flock >/dev/null 2>&1; then
    LOCK="${TMPDIR:-/tmp}/rbench-setup-$(id -u)-$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1).lock"
    if { exec 9>>"$LOCK"; } 2>/dev/null; then
        flock 9
    fi
fi

# ------------------------------------------------------------------ Debian packages
missing_packages() {
    local p status
    for p in "${DEB_PACKAGES[@]}"; do
        status="$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)"
        case "$status" in
            *" installed") ;;
            *) echo "$p" ;;
        esac
    done
}

MISSING=()
if command -v dpkg-query >/dev/null 2>&1; then
    mapfile -t MISSING < <(missing_packages)
    if [ "${#MISSING[@]}" -gt 0 ]; then
        if [ "$(id -u)" -eq 0 ]; then
            say "installing Debian packages: ${MISSING[*]}"
            export DEBIAN_FRONTEND=noninteractive
            APT_OPTS=(-o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0)
            run_logged "apt-get update" apt-get "${APT_OPTS[@]}" update -q
            run_logged "apt-get install" apt-get "${APT_OPTS[@]}" install -y -q --no-install-recommends "${MISSING[@]}"
            mapfile -t MISSING < <(missing_packages)
            [ "${#MISSING[@]}" -eq 0 ] || die "still missing after apt-get install: ${MISSING[*]}"
        else
            say "WARNING: missing Debian packages: ${MISSING[*]}"
            say "  install them with: sudo apt-get update && sudo apt-get install -y --no-install-recommends ${MISSING[*]}"
            say "  going on without them: the tests that need them will skip (and fail under CI=true)"
        fi
    fi
else
    info "no dpkg-query (not Debian): install by hand the equivalents of: ${DEB_PACKAGES[*]}"
fi

# pyscard builds from source: it needs gcc and libpcsclite-dev (winscard.h).
NO_PYSCARD=0
for p in "${MISSING[@]+"${MISSING[@]}"}"; do
    case "$p" in gcc|libpcsclite-dev) NO_PYSCARD=1 ;; esac
done
if [ "$NO_PYSCARD" = 0 ] && ! command -v dpkg-query >/dev/null 2>&1; then
    command -v gcc >/dev/null 2>&1 || NO_PYSCARD=1
fi

# ------------------------------------------------------------------ Python and .venv
py_ok() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' >/dev/null 2>&1; }

find_python() {
    local c
    for c in ${RBENCH_PYTHON:-} python3.11 python3 python3.12 python3.13 python3.14; do
        if command -v "$c" >/dev/null 2>&1 && py_ok "$c"; then
            command -v "$c"
            return 0
        fi
    done
    return 1
}

if [ -e "$VENV" ] && ! { [ -x "$VENV/bin/python" ] && [ -e "$VENV/bin/pip" ] && py_ok "$VENV/bin/python"; }; then
    say "existing .venv is broken or older than Python 3.11: making it anew"
    rm -rf "$VENV"
fi

if [ ! -e "$VENV" ]; then
    PY="$(find_python)" || die "Python 3.11 or newer not found (tried python3.11, python3, python3.12+); install it (Debian 12: apt-get install -y python3 python3-venv) or set RBENCH_PYTHON"
    say "creating .venv with $PY ($("$PY" -c 'import platform; print(platform.python_version())'))"
    if ! "$PY" -m venv "$VENV" >/dev/null 2>&1; then
        rm -rf "$VENV"
        PYV="$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
        if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
            say "venv needs python${PYV}-venv: installing it"
            export DEBIAN_FRONTEND=noninteractive
            run_logged "apt-get install python${PYV}-venv" sh -c "apt-get -o DPkg::Lock::Timeout=300 update -q && apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends python${PYV}-venv"
            run_logged "python -m venv" "$PY" -m venv "$VENV"
        else
            die "'$PY -m venv' failed; on Debian install the venv module: sudo apt-get install -y python${PYV}-venv"
        fi
    fi
fi

# ------------------------------------------------------------------ the project
PYPROJECT_HASH="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
PY_VERSION="$(sed -n 's/^version[_info]* *= *//p' "$VENV/pyvenv.cfg" | head -n1)"
WANT_STAMP="pyproject=$PYPROJECT_HASH root=$ROOT python=$PY_VERSION no_pyscard=$NO_PYSCARD"

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT_STAMP" ]; then
    info "nothing to do: .venv is up to date"
    exit 0
fi

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
rm -f "$STAMP"
if [ "$NO_PYSCARD" = 1 ]; then
    say "installing rechargebench into .venv WITHOUT pyscard (needs gcc and libpcsclite-dev): PC/SC tests will skip"
    REQS="$VENV/.rbench-requirements-no-pyscard.txt"
    "$VENV/bin/python" - "$ROOT/pyproject.toml" >"$REQS" <<'EOF'
import re, sys, tomllib
with open(sys.argv[1], "rb") as f:
    deps = tomllib.load(f)["project"]["dependencies"]
for d in deps:
    if re.split(r"[<>=!~\[ ;]", d, maxsplit=1)[0].strip().lower() != "pyscard":
        print(d)
EOF
    run_logged "pip install (dependencies)" "$VENV/bin/python" -m pip install -q -r "$REQS"
    run_logged "pip install -e . --no-deps" "$VENV/bin/python" -m pip install -q --no-deps -e "$ROOT"
else
    say "installing rechargebench into .venv (pip install -e .; the first time takes a minute or two)"
    run_logged "pip install -e ." "$VENV/bin/python" -m pip install -q -e "$ROOT"
fi
echo "$WANT_STAMP" >"$STAMP"
info "done"
