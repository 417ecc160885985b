#!/usr/bin/env bash
# rb: the one entry point of rechargebench. Every command first runs scripts/setup.sh
# (Debian packages when root, .venv, pip install -e . when pyproject.toml changed).
#
#   ./rb simulate [ARGS]    set up, then run the main job on embedded defaults: a simulated peak
#                           hour of 100k subscribers (DZ, IR, EG) on the real core and SQLite,
#                           with a report folder (rbench simulate mixed-peak-hour)
#   ./rb demo [ARGS]        set up, then one web and one USSD top-up over HTTP, step by step
#   ./rb test [PYTEST ARGS] set up, start one throwaway PostgreSQL server and pcscd for the run,
#                           then the whole suite: python -m pytest -n auto --dist loadgroup [ARGS]
#   ./rb setup              set up only
#   ./rb ARGS...            set up, then rbench ARGS... (./rb serve ..., ./rb serve --help)
#   ./rb help               this text
set -euo pipefail

ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
VENV="$ROOT/.venv"

usage() {
    sed -n '2,10s/^# \{0,1\}//p' "$ROOT/rb"
}

if [ "$#" -eq 0 ]; then
    usage >&2
    exit 2
fi
case "$1" in
    -h|--help|help) usage; exit 0 ;;
esac

bash "$ROOT/scripts/setup.sh"

cmd="$1"
shift
case "$cmd" in
    setup)
        exit 0
        ;;
    demo)
        exec "$VENV/bin/rbench" demo "$@"
        ;;
    simulate)
        if [ "$#" -eq 0 ]; then
            set -- mixed-peak-hour
        fi
        exec "$VENV/bin/rbench" simulate "$@"
        ;;
    test)
        cd "$ROOT"
        PY="$VENV/bin/python"
        PGDIR=""
        PCSCD_STARTED=""
        cleanup() {
            if [ -n "$PCSCD_STARTED" ]; then
                "$PY" -m hil.pcsc stop >/dev/null || echo "rb: could not stop the test pcscd" >&2
            fi
            if [ -n "$PGDIR" ]; then
                "$PY" -m hil.postgres stop --dir "$PGDIR" || echo "rb: could not stop the test PostgreSQL in $PGDIR" >&2
                rm -rf "$PGDIR"
            fi
        }
        trap cleanup EXIT
        trap 'exit 130' INT
        trap 'exit 143' TERM
        if [ -n "${RBENCH_PG_URL:-}" ]; then
            echo "rb: using the PostgreSQL server of RBENCH_PG_URL" >&2
        elif why="$("$PY" -m hil.postgres check 2>&1)"; then
            PGDIR="$(mktemp -d /tmp/rbench-pg.XXXXXX)"
            if ! RBENCH_PG_URL="$("$PY" -m hil.postgres start --dir "$PGDIR" 2>"$PGDIR.err")"; then
                cat "$PGDIR.err" >&2
                rm -f "$PGDIR.err"
                echo "rb: ERROR: could not start the throwaway PostgreSQL server for the tests" >&2
                exit 1
            fi
            rm -f "$PGDIR.err"
            export RBENCH_PG_URL
        else
            # Only reachable when not root (as root, setup.sh installed postgresql):
            # the PostgreSQL tests skip with this message, or fail when CI is set.
            echo "rb: $why: the PostgreSQL tests will skip" >&2
        fi
        # PC/SC: one pcscd for the run (the card reader's emulator face goes through it)
        if why="$("$PY" -m hil.pcsc check 2>&1)"; then
            "$PY" -m hil.pcsc start >/dev/null && PCSCD_STARTED=1
        else
            echo "rb: $why: the PC/SC tests will skip" >&2
        fi
        rc=0
        # loadgroup: the PC/SC tests share vpcd's two fixed readers, so they run on one worker
        "$PY" -m pytest -n auto --dist loadgroup "$@" || rc=$?
        exit "$rc"
        ;;
    *)
        exec "$VENV/bin/rbench" "$cmd" "$@"
        ;;
esac
