#!/usr/bin/env bash
# make bench: every speed figure in one table (bench/results/latest.md), see docs/benchmarks.md.
#
# Rows (BENCH_ROWS, default "verify postgres login size"):
#   verify    the code check under wrk: a bare FastAPI + HMAC ceiling, Twostep (SQLite) and
#             privacyIDEA, one after the other, 2 worker processes each (BENCH_SERVERS picks)
#   postgres  two `twostep serve` nodes x 2 workers on one PostgreSQL this script starts, wrk
#             with one thread per node; afterwards the accepted codes are counted in the audit
#             trail (bench/exactly_once.py)
#   login     whole sign-ins (password + code) per second per core: the journey API and the
#             hosted sign-in page, driven by bench/login_load.py (asyncio + httpx)
#   size      verify latency at 16 connections with BENCH_SIZES authenticators in SQLite
# Twostep's databases are seeded in bulk (bench/bulk_seed.py) and cached in bench/.cache/ by
# schema head; every run works on a copy.
#
# Knobs: BENCH_DURATION (s per run, 10)   BENCH_CONNECTIONS ("16 64")   BENCH_WARMUP (s, 2)
#        BENCH_USERS (users the load addresses, 5000)   BENCH_SIZES ("10000 1000000")
#        BENCH_SERVERS ("ceiling twostep privacyidea")   BENCH_ROWS (above)
#        BENCH_PORT (ceiling port, 8101; Twostep uses +1, the PostgreSQL nodes +2 and +3)
#        BENCH_PG_PORT (55439)   BENCH_ASGI (the ceiling's server: uvicorn or granian; must be
#        the one `twostep serve` runs, see ceiling_command)
# Only one server (or node pair) runs at a time; whatever this script started is stopped on exit.
# The exit status is non-zero when any answer was not the expected one: the table says INVALID.
set -Eeuo pipefail

ROOT=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
cd "$ROOT"
PEER_DIR="$ROOT/../shared/peers/privacyidea"
DUR=${BENCH_DURATION:-10}
ROWS=${BENCH_ROWS:-verify postgres login size}
SIZES=${BENCH_SIZES:-10000 1000000}
PG_PORT=${BENCH_PG_PORT:-55439}
ASGI=${BENCH_ASGI:-uvicorn}
PG_BIN=/usr/lib/postgresql/15/bin
CACHE="$ROOT/bench/.cache"
CONNS=${BENCH_CONNECTIONS:-16 64}
WARMUP=${BENCH_WARMUP:-2}
USERS=${BENCH_USERS:-5000}
SERVERS=${BENCH_SERVERS:-ceiling twostep privacyidea}
CEIL_PORT=${BENCH_PORT:-8101}
TS_PORT=$((CEIL_PORT + 1))
NODE_A=$((CEIL_PORT + 2))
NODE_B=$((CEIL_PORT + 3))
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
# Without the peer's scripts its row says "not available" (run_privacyidea), the rest runs.
PEER_MISSING=""
if [[ " $SERVERS " == *" privacyidea "* ]]; then
  if [ -d "$PEER_DIR" ] && [ -f "$PEER_DIR/setup.sh" ]; then
    PEER_DIR=$(cd "$PEER_DIR" && pwd)
  else
    PEER_MISSING="its setup scripts are not at $PEER_DIR (../shared/peers/privacyidea next to the repository)"
    echo "bench: privacyIDEA: $PEER_MISSING; its row will say not available" >&2
  fi
fi

# one bench at a time on this machine: two would share the cores and the ports
exec 9> /tmp/twostep-bench.lock
flock -n 9 || die "another make bench is running on this machine (lock /tmp/twostep-bench.lock)"

RUN=$(mktemp -d /tmp/twostep-bench.XXXXXX)
mkdir -p "$OUT/logs"
RAW="$RUN/results.jsonl"
SERVER_PID=""  # the newest server started; UP holds the process group of every one running
UP=()
PI_STARTED=0
PG_DIR=""
PG_URL=""
REASON=""

stop_server() { # stops every server this script started and that still runs
  local pid
  for pid in "${UP[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for pid in "${UP[@]}"; do
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  UP=()
  SERVER_PID=""
}
pg_stop() {
  [ -n "$PG_DIR" ] || return 0
  (cd / && runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop) >/dev/null 2>&1 || true
  rm -rf "$PG_DIR"
  PG_DIR=""
}
cleanup() {
  stop_server
  pg_stop
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
  UP+=("$SERVER_PID")
  local t0=$SECONDS
  while (( SECONDS - t0 < limit )); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      REASON="exited at start: $(tail -n 3 "$RUN/$name.log" | tr '\n' ' ' | cut -c1-300)"
      stop_server
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

# CPU jiffies (utime+stime) of every process in the process groups of the running servers
group_cpu() {
  local pgs=" ${UP[*]} "
  # (processes come and go while the glob is read: cat's complaints are expected)
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } \
    | awk -v pgs="$pgs" '{ s = $0; sub(/^.*\) /, "", s); split(s, f, " ");
                          if (index(pgs, " " f[3] " ")) t += f[12] + f[13] } END { print t + 0 }'
}
machine_cpu() { awk '/^cpu /{ t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t }' /proc/stat; }

# load SERVER MODE CONN PORT FILE ONCE [KEY]: one measured wrk run, appended to $RAW.
# WRK_NODES="host:port host:port" spreads it over nodes (one wrk thread each, see verify.lua);
# WRK_SECS overrides the duration (valid-code runs that end when their list is used up).
load() {
  local server=$1 mode=$2 conn=$3 port=$4 file=$5 once=$6 key=${7:-}
  local out="$RUN/wrk-$server-$mode-$conn.out" c0 c1 b0 t0 b1 t1 w0 w1
  local threads=1 secs=${WRK_SECS:-$DUR}
  [ -z "${WRK_NODES:-}" ] || threads=$(wc -w <<< "$WRK_NODES")
  c0=$(group_cpu); read -r b0 t0 < <(machine_cpu); w0=$(date +%s.%N)
  BENCH_NODES="${WRK_NODES:-}" timeout $((secs + 30)) wrk -t"$threads" -c"$conn" -d"${secs}s" \
    --timeout 10s -s "$LUA" "http://127.0.0.1:$port" -- "$file" "$MAXREQ" "$once" "$key" \
    > "$out" 2>&1 || true
  c1=$(group_cpu); read -r b1 t1 < <(machine_cpu); w1=$(date +%s.%N)
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
  local threads=1
  [ -z "${WRK_NODES:-}" ] || threads=$(wc -w <<< "$WRK_NODES")
  BENCH_NODES="${WRK_NODES:-}" timeout $((WARMUP + 20)) wrk -t"$threads" -c16 -d"${WARMUP}s" \
    --timeout 10s -s "$LUA" "http://127.0.0.1:$1" -- "$2" "$MAXREQ" 0 "${3:-}" > /dev/null 2>&1 || true
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
  echo "== bare FastAPI ceiling ($ASGI, 2 workers)" >&2
  if ! start_server ceiling "$CEIL_PORT" /healthz 60 $(ceiling_command); then
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

# ceiling_command: the ceiling under the same ASGI server, options and worker count as
# `twostep serve` (src/twostep/cli.py, _serve). If the product changes its server, change
# BENCH_ASGI's default with it: the ratio is only honest on the same server.
ceiling_command() {
  case "$ASGI" in
    uvicorn) echo "$ROOT/.venv/bin/uvicorn --app-dir $ROOT/bench ceiling:app --host 127.0.0.1" \
      "--port $CEIL_PORT --workers 2 --no-access-log --log-level warning" ;;
    granian) echo "$ROOT/.venv/bin/granian --interface asgi --working-dir $ROOT/bench" \
      "--host 127.0.0.1 --port $CEIL_PORT --workers 2 --no-access-log --log-level warning ceiling:app" ;;
    *) die "BENCH_ASGI must be uvicorn or granian" ;;
  esac
}

# seeded DIR N: a copy of the cached bulk-seeded SQLite database of N users (twostep.db,
# secrets.json, state.json, logins.json) in DIR; seeds it first if the cache has none for this
# schema head, seeder and BENCH_USERS
seeded() {
  local dir=$1 n=$2 head key slot
  head=$("$PY" -c 'from twostep.storage.migrate import head_revision; print(head_revision())')
  key=$(cat bench/bulk_seed.py bench/twostep_seed.py | sha256sum | cut -c1-12)
  slot="$CACHE/sqlite-$n-$USERS-$head-$key"
  if [ ! -f "$slot/done" ]; then
    echo "seeding $n users in bulk into $slot (cached for the next runs)" >&2
    rm -rf "$slot" && mkdir -p "$slot"
    [ -f "$CACHE/.gitignore" ] || echo '*' > "$CACHE/.gitignore"
    local t0=$SECONDS
    if ! TWOSTEP_DATA_DIR="$slot" timeout 900 "$PY" bench/bulk_seed.py --users "$n" \
      --hit "$USERS" --state "$slot/state.json" --logins "$slot/logins.json" \
      > "$RUN/seed-$n.log" 2>&1; then
      REASON="bulk seed of $n failed: $(tail -n 1 "$RUN/seed-$n.log" | cut -c1-300)"
      return 1
    fi
    rm -f "$slot"/twostep.db-* "$slot"/*.writers
    echo "$((SECONDS - t0))" > "$slot/done"
    cat "$RUN/seed-$n.log" >&2
  fi
  mkdir -p "$dir"
  cp "$slot/twostep.db" "$slot/secrets.json" "$slot/state.json" "$slot/logins.json" "$dir/"
}

BENCH_ENV=(TWOSTEP_IP_FAILURE_LIMIT=100000000 TWOSTEP_LOG_LEVEL=warning TWOSTEP_WORKERS=2
  TWOSTEP_HOST=127.0.0.1)

# twostep_up NAME DIR PORT [ENV...]: `twostep serve` on a seeded DIR
twostep_up() {
  local name=$1 dir=$2 port=$3
  shift 3
  start_server "$name" "$port" /healthz 120 env "${BENCH_ENV[@]}" TWOSTEP_DATA_DIR="$dir" \
    TWOSTEP_ADMIN_API_KEY="$ADMIN_KEY" TWOSTEP_PORT="$port" "$@" "$ROOT/.venv/bin/twostep" serve
}

api_key() { "$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["api_key"])' "$1"; }

# verify_runs NAME PORT STATE PLAN: the wrk runs of one Twostep deployment; with CHECK_URL
# set (the PostgreSQL pair), every run is followed by the exactly-once count
verify_runs() {
  local name=$1 port=$2 state=$3 plan=$4 api run mode c since n secs
  api=$(api_key "$state")
  for run in $plan; do
    mode=${run%:*} c=${run#*:}
    "$PY" bench/twostep_seed.py requests wrong --state "$state" --out "$RUN/$name-wrong.txt" >&2
    warm "$port" "$RUN/$name-wrong.txt" "$api"
    since=$(date +%s.%N)
    if [ "$mode" = valid ]; then
      # fresh codes only, each sent once per node: the run ends when the list is used up
      n=$((2 * USERS)) secs=$DUR
      if [ -n "${CHECK_URL:-}" ]; then
        # sized to about DUR seconds at the wrong-code rate (every code is sent twice), and
        # given up to 3 x DUR to finish, so that the exactly-once count can be exact
        n=$("$PY" bench/report.py rate "$RAW" "$name" wrong "$c" --seconds "$DUR" --per 2 \
          --min 500 --max $((2 * USERS)))
        secs=$((3 * DUR))
      fi
      "$PY" bench/twostep_seed.py requests valid --state "$state" --out "$RUN/$name-valid.txt" \
        --min "$n" --max "$n" >&2
      n=$(wc -l < "$RUN/$name-valid.txt")
      WRK_SECS=$secs load "$name" valid "$c" "$port" "$RUN/$name-valid.txt" 1 "$api"
    else
      n=0
      load "$name" wrong "$c" "$port" "$RUN/$name-wrong.txt" 0 "$api"
    fi
    if [ -n "${CHECK_URL:-}" ]; then
      "$PY" bench/exactly_once.py "$mode" "$c" --database-url "$CHECK_URL" --since "$since" \
        --wrk "$RUN/wrk-$name-$mode-$c.out" --codes "$n" --raw "$RAW" >&2
    fi
  done
}

run_twostep() {
  echo "== Twostep (twostep serve, 2 workers, SQLite, $USERS of 10000 bulk-seeded users)" >&2
  local data="$RUN/twostep-data"
  if ! seeded "$data" 10000 || ! twostep_up twostep "$data" "$TS_PORT"; then
    unavailable twostep "$REASON"
    return 0
  fi
  verify_runs twostep "$TS_PORT" "$data/state.json" "$(plan)"
  stop_server
}

pg_start() { # an own PostgreSQL 15 as the postgres user (it refuses root), as tests/pg.py does
  [ -x "$PG_BIN/pg_ctl" ] || { REASON="no PostgreSQL 15 in $PG_BIN"; return 1; }
  PG_DIR=$(mktemp -d /tmp/twostep-bench-pg.XXXXXX)
  chmod 755 "$PG_DIR"
  [ "$(id -u)" != 0 ] || chown postgres:postgres "$PG_DIR"
  local as=()
  [ "$(id -u)" != 0 ] || as=(runuser -u postgres --)
  # synchronous_commit=off: commits are not flushed one by one, the durability of the
  # SQLite side (WAL, synchronous=NORMAL); fsync stays on
  if ! (cd / && "${as[@]}" "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust -E UTF8 \
      --locale=C.UTF-8 --no-sync > "$RUN/postgres-init.log" 2>&1 \
    && "${as[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w -t 60 -o \
      "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c synchronous_commit=off -c max_connections=200" \
      start >> "$RUN/postgres-init.log" 2>&1); then
    REASON="PostgreSQL did not start: $(tail -n 2 "$RUN/postgres-init.log" "$PG_DIR/log" 2>/dev/null | tr '\n' ' ' | cut -c1-300)"
    return 1
  fi
  PG_URL="postgresql+asyncpg://postgres@127.0.0.1:$PG_PORT/postgres"
}

run_postgres() {
  echo "== Twostep on PostgreSQL: two nodes x 2 workers, wrk with one thread per node" >&2
  local dir="$RUN/pg" url c plan=""
  mkdir -p "$dir/a" "$dir/b"
  if ! pg_start; then unavailable twostep-pg "$REASON"; pg_stop; return 0; fi
  url=$PG_URL
  # one keyring for both nodes (twostep keys init), the database seeded in bulk
  "$ROOT/.venv/bin/twostep" keys init "$dir/secrets.json" >&2
  if ! TWOSTEP_DATA_DIR="$dir/a" TWOSTEP_DATABASE_URL="$url" TWOSTEP_SECRETS_FILE="$dir/secrets.json" \
    timeout 600 "$PY" bench/bulk_seed.py --users "$USERS" --hit "$USERS" --state "$dir/state.json" \
    > "$RUN/seed-pg.log" 2>&1; then
    unavailable twostep-pg "bulk seed failed: $(tail -n 1 "$RUN/seed-pg.log" | cut -c1-300)"
    pg_stop
    return 0
  fi
  cat "$RUN/seed-pg.log" >&2
  local node=(TWOSTEP_DATABASE_URL="$url" TWOSTEP_SECRETS_FILE="$dir/secrets.json"
    TWOSTEP_DB_POOL_SIZE=20)
  if ! twostep_up twostep-pg-a "$dir/a" "$NODE_A" "${node[@]}" \
    || ! twostep_up twostep-pg-b "$dir/b" "$NODE_B" "${node[@]}"; then
    unavailable twostep-pg "$REASON"
    stop_server
    pg_stop
    return 0
  fi
  for c in $CONNS; do plan="$plan wrong:$c valid:$c"; done
  WRK_NODES="127.0.0.1:$NODE_A 127.0.0.1:$NODE_B" CHECK_URL="$url" \
    verify_runs twostep-pg "$NODE_A" "$dir/state.json" "$plan"
  stop_server
  pg_stop
}

run_login() {
  echo "== Sign-ins (password + code) on Twostep, SQLite, 2 workers, login_load.py c=16" >&2
  local data="$RUN/login-data" half
  if ! seeded "$data" 10000 || ! twostep_up twostep-login "$data" "$TS_PORT"; then
    unavailable login "$REASON"
    return 0
  fi
  half=$(( $("$PY" -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["users"]))' "$data/logins.json") / 2 ))
  "$PY" bench/login_load.py journey --base-url "http://127.0.0.1:$TS_PORT" --logins "$data/logins.json" \
    --concurrency 16 --duration "$DUR" --server-pgid "$SERVER_PID" --raw "$RAW"
  "$PY" bench/login_load.py pages --base-url "http://127.0.0.1:$TS_PORT" --logins "$data/logins.json" \
    --first "$half" --concurrency 16 --duration "$DUR" --server-pgid "$SERVER_PID" --raw "$RAW"
  stop_server
}

run_size() {
  local n data
  for n in $SIZES; do
    echo "== Size: $n authenticators (SQLite, 2 workers), wrong codes at 16 connections" >&2
    data="$RUN/size-$n"
    if ! seeded "$data" "$n" || ! twostep_up "twostep-$n" "$data" "$TS_PORT"; then
      unavailable "size-$n" "$REASON"
      rm -rf "$data"
      continue
    fi
    verify_runs "size-$n" "$TS_PORT" "$data/state.json" "wrong:16"
    stop_server
    rm -rf "$data"
  done
}

wait_pi_idle() { # its 2 sync workers may still be working off the previous run's backlog
  for _ in $(seq 1 12); do
    curl -fsS -o /dev/null -m 5 "http://127.0.0.1:$PI_PORT/healthz/livez" 2>/dev/null && return 0
  done
  return 0
}

run_privacyidea() {
  echo "== privacyIDEA (gunicorn, 2 sync workers; peer scripts in $PEER_DIR)" >&2
  if [ -n "$PEER_MISSING" ]; then unavailable privacyidea "$PEER_MISSING"; return 0; fi
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
  echo "bench: rows: $ROWS; duration ${DUR}s, warm-up ${WARMUP}s, connections $CONNS, servers: $SERVERS, sizes: $SIZES" >&2
  local row s status=0 t0=$SECONDS
  ADMIN_KEY="bench-admin-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
  for row in $ROWS; do
    case "$row" in
      verify) for s in $SERVERS; do "run_$s"; done ;;
      postgres) run_postgres ;;
      login) run_login ;;
      size) run_size ;;
      *) die "unknown row $row (BENCH_ROWS: verify postgres login size)" ;;
    esac
  done
  "$PY" bench/report.py table "$RAW" --out "$OUT/latest.md" --conns "$CONNS" --duration "$DUR" \
    --sizes "$SIZES" \
    --meta "$(date -u +%FT%TZ), commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src || echo ' + uncommitted changes'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $((SECONDS - t0)) s in all" \
    --meta "each wrk run: ${DUR} s after ${WARMUP} s warm-up, wrk on the same cores, 2 worker processes per server ($ASGI for the ceiling, twostep serve for Twostep); PostgreSQL 15 with synchronous_commit=off" \
    || status=$?
  return "$status"
}

main || { status=$?; echo "bench: not reported: see the reasons at the top of the table" >&2; exit "$status"; }
