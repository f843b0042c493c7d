#!/usr/bin/env bash
# make bench: a bare FastAPI ceiling, Twostep and privacyIDEA, one after the other on
# 127.0.0.1, each with 2 worker processes and SQLite, under the same bounded wrk load on
# their TOTP verify endpoint; prints one table and writes it to bench/results/latest.md.
#
# Knobs: BENCH_DURATION (s per run, 10)   BENCH_CONNECTIONS ("16 64")   BENCH_WARMUP (s, 2)
#        BENCH_USERS (Twostep users, 5000)   BENCH_SERVERS ("ceiling twostep privacyidea")
#        BENCH_PORT (ceiling port, 8101; Twostep uses +1; privacyIDEA is fixed on 5001)
# Only one server runs at a time; whatever this script started is stopped on exit.
# Per server the runs go valid:16 wrong:16 wrong:64 valid:64 (see plan), each after a short
# wrong-code warm-up. Twostep's valid-code runs send each fresh code once (bench/verify.lua
# with ONCE=1) and end early if the prepared codes run out (noted under the table).
set -Eeuo pipefail

ROOT=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
cd "$ROOT"
PEER_DIR="$ROOT/../shared/peers/privacyidea"
DUR=${BENCH_DURATION:-10}
CONNS=${BENCH_CONNECTIONS:-16 64}
WARMUP=${BENCH_WARMUP:-2}
USERS=${BENCH_USERS:-5000}
SERVERS=${BENCH_SERVERS:-ceiling twostep privacyidea}
CEIL_PORT=${BENCH_PORT:-8101}
TS_PORT=$((CEIL_PORT + 1))
PI_PORT=5001
PY="$ROOT/.venv/bin/python"
LUA="$ROOT/bench/verify.lua"
OUT="$ROOT/bench/results"
MAXREQ=1000000

die() { echo "bench: $*" >&2; exit 1; }
[[ "$DUR" =~ ^[0-9]+$ && "$DUR" -ge 1 && "$DUR" -le 60 ]] || die "BENCH_DURATION must be 1..60 s"
[[ "$WARMUP" =~ ^[0-9]+$ ]] || die "BENCH_WARMUP must be whole seconds"
for c in $CONNS; do [[ "$c" =~ ^[0-9]+$ && "$c" -ge 1 && "$c" -le 1000 ]] || die "bad connection count $c"; done
command -v wrk >/dev/null || die "wrk missing (apt-get install -y wrk)"
command -v curl >/dev/null || die "curl missing"
command -v flock >/dev/null || die "flock missing (util-linux)"
[ -x "$ROOT/.venv/bin/uvicorn" ] || die ".venv is not installed: run make install"
if [[ " $SERVERS " == *" privacyidea "* ]]; then
  [ -d "$PEER_DIR" ] && [ -f "$PEER_DIR/setup.sh" ] \
    || die "privacyIDEA peer scripts not found at $PEER_DIR (expected ../shared/peers/privacyidea next to the repository); set BENCH_SERVERS to skip it"
  PEER_DIR=$(cd "$PEER_DIR" && pwd)
fi

# one bench at a time on this machine: two would share the cores and the ports
exec 9> /tmp/twostep-bench.lock
flock -n 9 || die "another make bench is running on this machine (lock /tmp/twostep-bench.lock)"

RUN=$(mktemp -d /tmp/twostep-bench.XXXXXX)
mkdir -p "$OUT/logs"
RAW="$RUN/results.jsonl"
SERVER_PID=""
PI_STARTED=0
REASON=""

stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  local pid=$SERVER_PID
  SERVER_PID=""
  # the server runs in its own process group (setsid): TERM the group, then KILL it
  kill -TERM -- "-$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  stop_server
  if [ "$PI_STARTED" = 1 ]; then bash "$PEER_DIR/stop.sh" >/dev/null 2>&1 || true; fi
  cp "$RUN"/*.log "$OUT/logs/" 2>/dev/null || true
  cp "$RAW" "$OUT/latest.jsonl" 2>/dev/null || true
  rm -rf "$RUN"
}
trap cleanup EXIT
trap 'echo "bench: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
trap 'exit 130' INT TERM

port_busy() { curl -s -o /dev/null -m 1 "http://127.0.0.1:$1/" 2>/dev/null; }

# start_server NAME PORT HEALTH_PATH TIMEOUT_S CMD...: own process group, log in $RUN/NAME.log;
# on failure returns 1 with the reason in REASON
start_server() {
  local name=$1 port=$2 health=$3 limit=$4
  shift 4
  if port_busy "$port"; then REASON="port $port already in use"; return 1; fi
  setsid "$@" > "$RUN/$name.log" 2>&1 < /dev/null 9>&- &
  SERVER_PID=$!
  local t0=$SECONDS
  while (( SECONDS - t0 < limit )); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      REASON="exited at start: $(tail -n 3 "$RUN/$name.log" | tr '\n' ' ' | cut -c1-300)"
      SERVER_PID=""
      return 1
    fi
    if curl -fsS -o /dev/null -m 2 "http://127.0.0.1:$port$health" 2>/dev/null; then
      sleep 0.5 # let the second worker finish importing
      echo "$name up on 127.0.0.1:$port after $((SECONDS - t0)) s (pid $SERVER_PID)" >&2
      return 0
    fi
    sleep 0.25
  done
  REASON="no 200 from GET $health within $limit s: $(tail -n 3 "$RUN/$name.log" | tr '\n' ' ' | cut -c1-300)"
  stop_server
  return 1
}

# CPU jiffies (utime+stime) of every process in the process group $1
group_cpu() {
  local pg=$1
  # (processes come and go while the glob is read: cat's complaints are expected)
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } \
    | awk -v pg="$pg" '{ s = $0; sub(/^.*\) /, "", s); split(s, f, " ");
                          if (f[3] == pg) t += f[12] + f[13] } END { print t + 0 }'
}
machine_cpu() { awk '/^cpu /{ t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t }' /proc/stat; }

# load SERVER MODE CONN PORT FILE ONCE [KEY]: one measured wrk run, appended to $RAW
load() {
  local server=$1 mode=$2 conn=$3 port=$4 file=$5 once=$6 key=${7:-}
  local out="$RUN/wrk-$server-$mode-$conn.out" c0 c1 b0 t0 b1 t1 w0 w1
  c0=$(group_cpu "$SERVER_PID"); read -r b0 t0 < <(machine_cpu); w0=$(date +%s.%N)
  timeout $((DUR + 30)) wrk -t1 -c"$conn" -d"${DUR}s" --timeout 10s -s "$LUA" \
    "http://127.0.0.1:$port" -- "$file" "$MAXREQ" "$once" "$key" > "$out" 2>&1 || true
  c1=$(group_cpu "$SERVER_PID"); read -r b1 t1 < <(machine_cpu); w1=$(date +%s.%N)
  local cores busy
  cores=$(awk -v c="$((c1 - c0))" -v hz="$(getconf CLK_TCK)" -v w0="$w0" -v w1="$w1" \
    'BEGIN { printf "%.2f", c / hz / (w1 - w0) }')
  busy=$(awk -v b="$((b1 - b0))" -v t="$((t1 - t0))" 'BEGIN { printf "%.0f", t ? 100 * b / t : 0 }')
  "$PY" bench/report.py add-wrk "$RAW" "$server" "$mode" "$conn" "$out" \
    --server-cores "$cores" --machine-busy "$busy" --wall "$(awk -v a="$w0" -v b="$w1" 'BEGIN { print b - a }')" \
    || return 1
  grep '^RESULT' "$out" | cut -d' ' -f2-9,10-15 \
    | sed "s/^/  $server $mode c=$conn: server $cores cores, machine $busy% busy, /" >&2
}

warm() { # warm PORT FILE [KEY]: short wrong-code load, not recorded (consumes no valid code)
  [ "$WARMUP" -gt 0 ] || return 0
  timeout $((WARMUP + 20)) wrk -t1 -c16 -d"${WARMUP}s" --timeout 10s -s "$LUA" \
    "http://127.0.0.1:$1" -- "$2" "$MAXREQ" 0 "${3:-}" > /dev/null 2>&1 || true
}

unavailable() { # unavailable SERVER REASON
  echo "bench: $1 not available: $2" >&2
  "$PY" bench/report.py unavailable "$RAW" "$1" "$2"
}

# plan: the runs of one server as MODE:CONN, the same order for every server. Valid-code
# runs are kept apart (valid, wrong | wrong, valid | ...) so that Twostep's users have new
# time steps, hence fresh codes, by the next valid-code run.
plan() {
  local i=0 c
  for c in $CONNS; do
    if (( i % 2 == 0 )); then echo "valid:$c wrong:$c"; else echo "wrong:$c valid:$c"; fi
    i=$((i + 1))
  done
}

run_ceiling() {
  echo "== bare FastAPI ceiling (uvicorn, 2 workers)" >&2
  if ! start_server ceiling "$CEIL_PORT" /healthz 60 \
    "$ROOT/.venv/bin/uvicorn" --app-dir "$ROOT/bench" ceiling:app --host 127.0.0.1 \
    --port "$CEIL_PORT" --workers 2 --no-access-log --log-level warning; then
    unavailable ceiling "$REASON"
    return 0
  fi
  local run mode c
  "$PY" bench/ceiling.py requests wrong "$RUN/ceil-wrong.txt" >&2
  for run in $(plan); do
    mode=${run%:*} c=${run#*:}
    warm "$CEIL_PORT" "$RUN/ceil-wrong.txt"
    if [ "$mode" = valid ]; then
      # the ceiling accepts the current step only: start the run early in a step
      "$PY" bench/ceiling.py requests valid "$RUN/ceil-valid.txt" --fit $((DUR + 2)) >&2
    fi
    load ceiling "$mode" "$c" "$CEIL_PORT" "$RUN/ceil-$mode.txt" 0
  done
  stop_server
}

run_twostep() {
  echo "== Twostep (twostep serve, 2 workers)" >&2
  local data="$RUN/twostep-data" state="$RUN/twostep-state.json" key
  mkdir -p "$data"
  key="bench-admin-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
  if ! start_server twostep "$TS_PORT" /healthz 120 env TWOSTEP_DATA_DIR="$data" \
    TWOSTEP_ADMIN_API_KEY="$key" TWOSTEP_HOST=127.0.0.1 TWOSTEP_PORT="$TS_PORT" \
    TWOSTEP_WORKERS=2 TWOSTEP_IP_FAILURE_LIMIT=100000000 TWOSTEP_LOG_LEVEL=warning \
    "$ROOT/.venv/bin/twostep" serve; then
    unavailable twostep "$REASON"
    return 0
  fi
  if ! timeout 600 "$PY" bench/twostep_seed.py seed --base-url "http://127.0.0.1:$TS_PORT" \
    --admin-key "$key" --users "$USERS" --state "$state" 2> "$RUN/twostep-seed.log" >&2; then
    unavailable twostep "$(tail -n 1 "$RUN/twostep-seed.log" | cut -c1-900)"
    stop_server
    return 0
  fi
  local api run mode c
  api=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["api_key"])' "$state")
  for run in $(plan); do
    mode=${run%:*} c=${run#*:}
    "$PY" bench/twostep_seed.py requests wrong --state "$state" --out "$RUN/ts-wrong.txt" >&2
    warm "$TS_PORT" "$RUN/ts-wrong.txt" "$api"
    if [ "$mode" = valid ]; then
      # fresh codes only, each sent once: the run ends when the list is used up
      "$PY" bench/twostep_seed.py requests valid --state "$state" --out "$RUN/ts-valid.txt" \
        --min $((2 * USERS)) >&2
      load twostep valid "$c" "$TS_PORT" "$RUN/ts-valid.txt" 1 "$api"
    else
      load twostep wrong "$c" "$TS_PORT" "$RUN/ts-wrong.txt" 0 "$api"
    fi
  done
  stop_server
}

wait_pi_idle() { # its 2 sync workers may still be working off the previous run's backlog
  for _ in $(seq 1 12); do
    curl -fsS -o /dev/null -m 5 "http://127.0.0.1:$PI_PORT/healthz/livez" 2>/dev/null && return 0
  done
  return 0
}

run_privacyidea() {
  echo "== privacyIDEA (gunicorn, 2 sync workers; peer scripts in $PEER_DIR)" >&2
  if [ -f /tmp/peers/pi/server.pid ] && kill -0 "$(cat /tmp/peers/pi/server.pid)" 2>/dev/null; then
    unavailable privacyidea "a privacyIDEA server this run did not start is already running (pid $(cat /tmp/peers/pi/server.pid)); stop it with $PEER_DIR/stop.sh"
    return 0
  fi
  if port_busy "$PI_PORT"; then unavailable privacyidea "port $PI_PORT already in use"; return 0; fi
  PI_STARTED=1 # setup.sh starts the server
  local t0=$SECONDS
  # (9>&-: the gunicorn that setup.sh leaves running must not hold the bench lock)
  if ! (cd "$PEER_DIR" && timeout 600 bash setup.sh) > "$RUN/privacyidea-setup.log" 2>&1 9>&-; then
    unavailable privacyidea "setup.sh failed: $(tail -n 2 "$RUN/privacyidea-setup.log" | tr '\n' ' ' | cut -c1-300)"
    bash "$PEER_DIR/stop.sh" >&2 || true
    PI_STARTED=0
    return 0
  fi
  echo "privacyIDEA set up and serving after $((SECONDS - t0)) s" >&2
  local run mode c out
  for run in $(plan); do
    mode=${run%:*} c=${run#*:}
    out="$RUN/pi-$mode-$c.out"
    wait_pi_idle
    (cd "$PEER_DIR" && WARMUP=$WARMUP timeout $((DUR + WARMUP + 90)) bash bench.sh "$mode" "$c" "$DUR") \
      > "$out" 2>&1 || true
    sed 's/^/  /' "$out" >&2
    "$PY" bench/report.py add-pi "$RAW" "$mode" "$c" "$out" || true
  done
  bash "$PEER_DIR/stop.sh" >&2 || true
  PI_STARTED=0
}

main() {
  echo "bench: duration ${DUR}s, warm-up ${WARMUP}s, connections $CONNS, servers: $SERVERS" >&2
  local s
  for s in $SERVERS; do "run_$s"; done
  "$PY" bench/report.py table "$RAW" --out "$OUT/latest.md" --conns "$CONNS" --duration "$DUR" \
    --meta "$(date -u +%FT%TZ), commit $(git rev-parse --short HEAD), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)" \
    --meta "each run: ${DUR} s after ${WARMUP} s warm-up, wrk -t1 on the same cores, SQLite, 2 worker processes per server"
}

main
