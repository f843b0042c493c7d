#!/usr/bin/env bash
# make bench: a bare FastAPI ceiling, Twostep and privacyIDEA, one after the other on
# 127.0.0.1, each with 2 worker processes and SQLite, under the same bounded wrk load on
# their TOTP verify endpoint; prints one table and writes it to bench/results/latest.md.
#
# Knobs: BENCH_DURATION (s per run, 10)   BENCH_CONNECTIONS ("16 64")   BENCH_WARMUP (s, 2)
#        BENCH_USERS (Twostep users, 4000)   BENCH_SERVERS ("ceiling twostep privacyidea")
#        BENCH_PORT (ceiling port, 8101; Twostep uses +1; privacyIDEA is fixed on 5001)
# Only one server runs at a time; whatever this script started is stopped on exit.
set -euo pipefail

ROOT=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
cd "$ROOT"
PEER_DIR="$ROOT/../shared/peers/privacyidea"
DUR=${BENCH_DURATION:-10}
CONNS=${BENCH_CONNECTIONS:-16 64}
WARMUP=${BENCH_WARMUP:-2}
USERS=${BENCH_USERS:-4000}
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
[ -x "$ROOT/.venv/bin/uvicorn" ] || die ".venv is not installed: run make install"
if [[ " $SERVERS " == *" privacyidea "* ]]; then
  [ -d "$PEER_DIR" ] && [ -f "$PEER_DIR/setup.sh" ] \
    || die "privacyIDEA peer scripts not found at $PEER_DIR (expected ../shared/peers/privacyidea next to the repository); set BENCH_SERVERS to skip it"
  PEER_DIR=$(cd "$PEER_DIR" && pwd)
fi

RUN=$(mktemp -d /tmp/twostep-bench.XXXXXX)
mkdir -p "$OUT/logs"
RAW="$OUT/raw.jsonl"
: > "$RAW"
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
  rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_busy() { curl -s -o /dev/null -m 1 "http://127.0.0.1:$1/" 2>/dev/null; }

# start_server NAME PORT HEALTH_PATH TIMEOUT_S CMD...: own process group, log in $RUN/NAME.log;
# on failure returns 1 with the reason in REASON
start_server() {
  local name=$1 port=$2 health=$3 limit=$4
  shift 4
  if port_busy "$port"; then REASON="port $port already in use"; return 1; fi
  setsid "$@" > "$RUN/$name.log" 2>&1 < /dev/null &
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

# load SERVER MODE CONN PORT FILE ONCE [KEY]: one measured wrk run, appended to $RAW
load() {
  local server=$1 mode=$2 conn=$3 port=$4 file=$5 once=$6 key=${7:-}
  local out="$RUN/wrk-$server-$mode-$conn.out"
  timeout $((DUR + 30)) wrk -t1 -c"$conn" -d"${DUR}s" --timeout 10s -s "$LUA" \
    "http://127.0.0.1:$port" -- "$file" "$MAXREQ" "$once" "$key" > "$out" 2>&1 || true
  "$PY" bench/report.py add-wrk "$RAW" "$server" "$mode" "$conn" "$out" || return 1
  grep '^RESULT' "$out" | sed "s/^RESULT/  $server $mode c=$conn:/" >&2
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

run_ceiling() {
  echo "== bare FastAPI ceiling (uvicorn, 2 workers)" >&2
  if ! start_server ceiling "$CEIL_PORT" /healthz 60 \
    "$ROOT/.venv/bin/uvicorn" --app-dir "$ROOT/bench" ceiling:app --host 127.0.0.1 \
    --port "$CEIL_PORT" --workers 2 --no-access-log --log-level warning; then
    unavailable ceiling "$REASON"
    return 0
  fi
  local mode c
  "$PY" bench/ceiling.py requests wrong "$RUN/ceil-wrong.txt" >&2
  for mode in wrong valid; do
    for c in $CONNS; do
      warm "$CEIL_PORT" "$RUN/ceil-wrong.txt"
      if [ "$mode" = valid ]; then
        # the ceiling accepts the current step only: start the run early in a step
        "$PY" bench/ceiling.py requests valid "$RUN/ceil-valid.txt" --fit $((DUR + 2)) >&2
      fi
      load ceiling "$mode" "$c" "$CEIL_PORT" "$RUN/ceil-$mode.txt" 0
    done
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
  local api mode c
  api=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["api_key"])' "$state")
  for mode in wrong valid; do
    for c in $CONNS; do
      "$PY" bench/twostep_seed.py requests wrong --state "$state" --out "$RUN/ts-wrong.txt" >&2
      warm "$TS_PORT" "$RUN/ts-wrong.txt" "$api"
      if [ "$mode" = valid ]; then
        # fresh codes only, each sent once: the run ends when the list is used up
        "$PY" bench/twostep_seed.py requests valid --state "$state" --out "$RUN/ts-valid.txt" >&2
        load twostep valid "$c" "$TS_PORT" "$RUN/ts-valid.txt" 1 "$api"
      else
        load twostep wrong "$c" "$TS_PORT" "$RUN/ts-wrong.txt" 0 "$api"
      fi
    done
  done
  stop_server
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
  if ! (cd "$PEER_DIR" && timeout 600 bash setup.sh) > "$RUN/privacyidea-setup.log" 2>&1; then
    unavailable privacyidea "setup.sh failed: $(tail -n 2 "$RUN/privacyidea-setup.log" | tr '\n' ' ' | cut -c1-300)"
    bash "$PEER_DIR/stop.sh" >&2 || true
    PI_STARTED=0
    return 0
  fi
  echo "privacyIDEA set up and serving after $((SECONDS - t0)) s" >&2
  local mode c out
  for mode in wrong valid; do
    for c in $CONNS; do
      out="$RUN/pi-$mode-$c.out"
      (cd "$PEER_DIR" && WARMUP=$WARMUP timeout $((DUR + WARMUP + 90)) bash bench.sh "$mode" "$c" "$DUR") \
        > "$out" 2>&1 || true
      sed 's/^/  /' "$out" >&2
      "$PY" bench/report.py add-pi "$RAW" "$mode" "$c" "$out" || true
    done
  done
  bash "$PEER_DIR/stop.sh" >&2 || true
  PI_STARTED=0
}

main() {
  echo "bench: duration ${DUR}s, warm-up ${WARMUP}s, connections $CONNS, servers: $SERVERS" >&2
  local s
  for s in $SERVERS; do "run_$s"; done
  "$PY" bench/report.py table "$RAW" --out "$OUT/latest.md" --conns "$CONNS" \
    --meta "$(date -u +%FT%TZ), commit $(git rev-parse --short HEAD), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)" \
    --meta "each run: ${DUR} s after ${WARMUP} s warm-up, wrk -t1 on the same cores, SQLite, 2 worker processes per server"
}

main
