#!/usr/bin/env bash
# Crossdock benchmarks: run.sh search|ingest|resilience|limits|controller-outages|jobs|submissions|all
#
#   search      wrk against GET /search (1 and 2 workers) beside nginx serving a static file
#   ingest      crossdock marketplace sync of a 10,000 x 1 x 100 feed on SQLite and PostgreSQL
#   resilience  crossdock site-outages process, 200 runs at 40 % 500s and 50 with 429 + Retry-After
#   limits      worker RSS under 100,000 distinct /search queries; peak RSS of syncs of hostile feeds
#   controller-outages  POST /outages (arrays of 10,000; single records at 32 connections) and
#               GET /events over 1,000,000 reports beside nginx, on SQLite and PostgreSQL
#   jobs        the distributed job engine: no-op jobs/s and enqueue-to-start latency through Redis
#               and RabbitMQ (2 workers, PostgreSQL), and /search of 1 and 2 API processes in
#               distributed mode beside nginx
#   submissions the submission engine: the share of a DSP account's limit used over 60 s with 1 and 2
#               workers (PostgreSQL + Redis), and the worker's RSS over 10,000 nodes
#   all         search and ingest
#
# Everything listens on and talks to 127.0.0.1 only, every step has a time limit, and the EXIT
# trap stops whatever the drivers started and removes the temporary directory. Raw outputs go to
# bench/out/<UTC time>-<mode>/; a Markdown summary (for bench/RESULTS.md) is printed at the end.
#
# Environment: BENCH_WORKERS (first search row, default 1; a 2-worker row is always added),
# BENCH_POSTGRES_URL (default postgresql+asyncpg://postgres@127.0.0.1:5432/test; "skip" skips it):
# only the server to use; the ingestion benchmark creates a throw-away database of its own there and
# drops it at the end, leaving the named database untouched. BENCH_RESILIENCE_RUNS (default 200) and
# BENCH_RATE_LIMIT_RUNS (default 50): runs of the two resilience scenarios; BENCH_RESILIENCE_SEED
# (default random): the seed of the simulator's faults. BENCH_REDIS_URL (default
# redis://127.0.0.1:6379/0) and BENCH_AMQP_URL (default amqp://guest:guest@127.0.0.1:5672/): the
# brokers of the jobs benchmark (loopback only; each run uses a queue of its own and deletes it).
set -euo pipefail

usage() {
    echo "usage: $0 search|ingest|resilience|limits|controller-outages|jobs|submissions|all" >&2
    exit 2
}
[[ $# -eq 1 ]] || usage
MODE=$1
case $MODE in search | ingest | resilience | limits | controller-outages | jobs | submissions | all) ;; *) usage ;; esac

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$ROOT/.venv/bin
PY=$BIN/python
if [[ ! -x $PY || ! -x $BIN/crossdock ]]; then
    echo "run.sh: $BIN/crossdock not found: run 'make install' first" >&2
    exit 2
fi
# nginx lives in /usr/sbin, which is not on every user's PATH.
export PATH=$PATH:/usr/sbin:/sbin

SEARCH_TIME_LIMIT=900
INGEST_TIME_LIMIT=2400
RESILIENCE_TIME_LIMIT=3600
LIMITS_TIME_LIMIT=1200
OUTAGES_TIME_LIMIT=3000
JOBS_TIME_LIMIT=1500
SUBMISSIONS_TIME_LIMIT=1500

ensure_search_tools() {
    local missing=()
    command -v wrk >/dev/null || missing+=(wrk)
    command -v nginx >/dev/null || missing+=(nginx-light)
    [[ ${#missing[@]} -eq 0 ]] && return 0
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        echo "run.sh: installing ${missing[*]} with apt-get ..." >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y "${missing[@]}" || { apt-get update && apt-get install -y "${missing[@]}"; }
    else
        echo "run.sh: the search benchmark needs wrk and nginx: install them with 'apt-get install -y wrk nginx-light' (as root)" >&2
        exit 2
    fi
}

if [[ $MODE == search || $MODE == all || $MODE == limits || $MODE == controller-outages || $MODE == jobs ]]; then
    ensure_search_tools
fi

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$ROOT/bench/out/$STAMP-$MODE
mkdir -p "$OUT"

# One temporary directory for everything the drivers create (they honour TMPDIR). 0755: nginx's
# workers run as 'nobody' when started as root and must reach the file they serve.
BENCH_TMP=$(mktemp -d -t crossdock-bench.XXXXXX)
chmod 755 "$BENCH_TMP"
export TMPDIR=$BENCH_TMP
export BENCH_PIDFILE=$BENCH_TMP/process-groups
DRIVER_PID=

stop_groups() {
    # The drivers list the process groups they started and still run; stop them by id.
    [[ -s $BENCH_PIDFILE ]] || return 0
    local pgid
    while read -r pgid; do
        [[ $pgid =~ ^[0-9]+$ ]] && kill -TERM -- "-$pgid" 2>/dev/null || true
    done <"$BENCH_PIDFILE"
    sleep 2
    while read -r pgid; do
        [[ $pgid =~ ^[0-9]+$ ]] && kill -KILL -- "-$pgid" 2>/dev/null || true
    done <"$BENCH_PIDFILE"
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [[ -n $DRIVER_PID ]]; then
        kill -TERM "$DRIVER_PID" 2>/dev/null || true
        wait "$DRIVER_PID" 2>/dev/null || true
    fi
    stop_groups
    rm -rf -- "$BENCH_TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Run a driver in the background and wait for it, so that a signal reaches the trap at once;
# `timeout` bounds it (TERM first, the driver then stops its children; KILL 30 s later).
run_driver() {
    local limit=$1
    shift
    timeout --kill-after=30 "$limit" "$@" &
    DRIVER_PID=$!
    local rc=0
    wait "$DRIVER_PID" || rc=$?
    DRIVER_PID=
    stop_groups
    return "$rc"
}

# run_section TITLE TIME_LIMIT NAME DRIVER: run bench/DRIVER --out $OUT, whose summary is $OUT/NAME.md
# (a FAILED line instead when it fails), and add that summary to the report.
run_section() {
    local title=$1 limit=$2 name=$3 driver=$4 rc=0
    echo "== $title benchmark (raw outputs: ${OUT#"$ROOT"/})" >&2
    run_driver "$limit" "$PY" "bench/$driver" --out "$OUT" || rc=$?
    if [[ $rc -ne 0 || ! -s $OUT/$name.md ]]; then
        echo "### $title: FAILED (exit $rc), see ${OUT#"$ROOT"/}" >>"$OUT/$name.md"
        STATUS=1
    fi
    SECTIONS+=("$OUT/$name.md")
}

cd "$ROOT"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
STATUS=0
SECTIONS=()

if [[ $MODE == search || $MODE == all ]]; then
    echo "== search benchmark (raw outputs: ${OUT#"$ROOT"/})" >&2
    rc=0
    run_driver "$SEARCH_TIME_LIMIT" "$PY" bench/search_bench.py --out "$OUT" || rc=$?
    if [[ $rc -eq 0 && -s $OUT/search.md ]]; then
        SECTIONS+=("$OUT/search.md")
    else
        echo "### Search: FAILED (exit $rc), see ${OUT#"$ROOT"/}" >"$OUT/search.md"
        SECTIONS+=("$OUT/search.md")
        STATUS=1
    fi
    # The same with only one-day ranges: answers of about 1 KB.
    echo "== search benchmark, one-day queries (raw outputs: ${OUT#"$ROOT"/}/search-day)" >&2
    rc=0
    run_driver "$SEARCH_TIME_LIMIT" "$PY" bench/search_bench.py --mix day --out "$OUT/search-day" || rc=$?
    if [[ $rc -eq 0 && -s $OUT/search-day/search-day.md ]]; then
        SECTIONS+=("$OUT/search-day/search-day.md")
    else
        mkdir -p "$OUT/search-day"
        echo "### Search (one-day queries): FAILED (exit $rc)" >"$OUT/search-day/search-day.md"
        SECTIONS+=("$OUT/search-day/search-day.md")
        STATUS=1
    fi
fi

if [[ $MODE == ingest || $MODE == all ]]; then
    echo "== ingestion benchmark (raw outputs: ${OUT#"$ROOT"/})" >&2
    rc=0
    run_driver "$INGEST_TIME_LIMIT" "$PY" bench/ingest_bench.py --out "$OUT" || rc=$?
    if [[ -s $OUT/ingest.md ]]; then
        SECTIONS+=("$OUT/ingest.md")
    else
        echo "### Ingestion: FAILED (exit $rc), see ${OUT#"$ROOT"/}" >"$OUT/ingest.md"
        SECTIONS+=("$OUT/ingest.md")
    fi
    [[ $rc -eq 0 ]] || STATUS=1
fi

if [[ $MODE == resilience ]]; then
    echo "== resilience benchmark (raw outputs: ${OUT#"$ROOT"/})" >&2
    rc=0
    run_driver "$RESILIENCE_TIME_LIMIT" "$PY" bench/resilience_bench.py --out "$OUT" || rc=$?
    if [[ -s $OUT/resilience.md ]]; then
        SECTIONS+=("$OUT/resilience.md")
    else
        echo "### Resilience: FAILED (exit $rc), see ${OUT#"$ROOT"/}" >"$OUT/resilience.md"
        SECTIONS+=("$OUT/resilience.md")
    fi
    [[ $rc -eq 0 ]] || STATUS=1
fi

if [[ $MODE == limits ]]; then
    echo "== distinct-query memory benchmark (raw outputs: ${OUT#"$ROOT"/}/cache)" >&2
    rc=0
    run_driver "$LIMITS_TIME_LIMIT" "$PY" bench/cache_bench.py --out "$OUT/cache" || rc=$?
    if [[ $rc -ne 0 || ! -s $OUT/cache/cache.md ]]; then
        mkdir -p "$OUT/cache"
        echo "### Distinct queries: FAILED (exit $rc), see ${OUT#"$ROOT"/}/cache" >"$OUT/cache/cache.md"
        STATUS=1
    fi
    SECTIONS+=("$OUT/cache/cache.md")
    echo "== hostile feeds benchmark (raw outputs: ${OUT#"$ROOT"/}/limits)" >&2
    rc=0
    run_driver "$LIMITS_TIME_LIMIT" "$PY" bench/limits_bench.py --out "$OUT/limits" || rc=$?
    if [[ $rc -ne 0 || ! -s $OUT/limits/limits.md ]]; then
        mkdir -p "$OUT/limits"
        echo "### Hostile feeds: FAILED (exit $rc), see ${OUT#"$ROOT"/}/limits" >"$OUT/limits/limits.md"
        STATUS=1
    fi
    SECTIONS+=("$OUT/limits/limits.md")
fi

if [[ $MODE == controller-outages ]]; then
    run_section "Controller outages" "$OUTAGES_TIME_LIMIT" controller-outages controller_outages_bench.py
fi

if [[ $MODE == jobs ]]; then
    run_section "Job engine" "$JOBS_TIME_LIMIT" jobs jobs_bench.py
fi

if [[ $MODE == submissions ]]; then
    run_section "Submission engine" "$SUBMISSIONS_TIME_LIMIT" submissions submissions_bench.py
fi

cpu_model=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)
memory=$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
granian_version=$("$PY" -c 'import granian; print(granian.__version__)' 2>/dev/null || echo unknown)
revision=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$ROOT" status --porcelain 2>/dev/null) ]]; then revision="$revision + uncommitted changes"; fi
tools=""
if [[ $MODE == search || $MODE == all || $MODE == limits || $MODE == controller-outages || $MODE == jobs ]]; then
    tools=", $(wrk -v 2>&1 | head -n1 | awk '{print "wrk " $2}'), $(nginx -v 2>&1 | sed 's|nginx version: nginx/|nginx |')"
fi

{
    echo "## Benchmark run $STAMP ($MODE)"
    echo
    echo "- Command: \`bench/run.sh $MODE\`${BENCH_WORKERS:+ with BENCH_WORKERS=$BENCH_WORKERS}"
    echo "- Date (UTC): $(date -u)"
    echo "- Code: $revision"
    echo "- Machine: $(nproc) CPUs ($cpu_model), $memory RAM, kernel $(uname -r)"
    echo "- Software: $("$PY" --version 2>&1), granian $granian_version$tools"
    echo "- Load average (1, 5, 15 min): $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
    echo "- Raw outputs: \`${OUT#"$ROOT"/}/\`"
    for section in "${SECTIONS[@]}"; do
        echo
        cat "$section"
    done
} >"$OUT/summary.md"

echo
echo "----- 8< ----- Markdown summary (bench/RESULTS.md) -----"
cat "$OUT/summary.md"
echo "----- >8 -----"
exit "$STATUS"
