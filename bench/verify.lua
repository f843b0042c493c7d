-- wrk script: POST pre-generated JSON bodies, one "PATH<TAB>BODY" per line of a file.
--   wrk -t1 -cN -dDs -s bench/verify.lua http://127.0.0.1:PORT -- FILE MAXREQ ONCE [BEARER]
-- ONCE=0: walk the list in order and wrap around (wrong codes);
-- ONCE=1: walk it once (fresh valid codes: a code is never sent twice). When the list is
--         used up, idle connections wait (delay) instead of sending; the run stops when
--         every prepared request has its reply.
-- Every run stops after MAXREQ replies or -d seconds, whichever comes first.
-- wrk's own duration is always -d (its main thread sleeps that long), so the rate is
-- measured here: counted replies / (last counted reply - first request), monotonic clock.
-- A few connections may find the list used up between delay() and request(): they send
-- GET /healthz instead; those replies are counted as overflow, not as replies.
-- Replies are sorted into: valid (200 {"valid":true}), rejected (200 {"valid":false} or
-- 400 invalid_code), reused (400 code_reused), locked (429), other (anything else).
-- Use one wrk thread (-t1) per node: each thread walks its own copy of the list (see setup).
-- RESULT also says how many requests were sent (sent) and how many threads stopped before
-- their MAXREQ replies (unfinished: the duration ended first).
-- Written after the privacyIDEA peer's validate.lua (same RESULT line shape).
local ffi = require("ffi")
ffi.cdef([[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clk_id, bench_timespec *tp);
]])
local ts = ffi.new("bench_timespec")

local function now_s()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end

local threads = {}
local nodes = nil

-- BENCH_NODES="127.0.0.1:8103 127.0.0.1:8104": thread i talks to node i (round robin), so
-- with -t2 each of two nodes gets its own thread (and half the connections), and each thread
-- walks its own copy of the list: with ONCE=1 every code goes to both nodes.
function setup(thread)
  local spec = os.getenv("BENCH_NODES")
  if spec and #spec > 0 then
    if not nodes then
      nodes = {}
      for host, port in string.gmatch(spec, "([^%s:]+):(%d+)") do
        nodes[#nodes + 1] = wrk.lookup(host, port)[1]
      end
    end
    thread.addr = nodes[(#threads % #nodes) + 1]
  end
  -- only the first thread's request() is probed (see request): the others send their first
  thread:set("first_thread", #threads == 0)
  table.insert(threads, thread)
end

function init(args)
  paths, bodies = {}, {}
  local f = assert(io.open(args[1], "r"))
  for line in f:lines() do
    local tab = string.find(line, "\t", 1, true)
    if tab then
      paths[#paths + 1] = string.sub(line, 1, tab - 1)
      -- a third tab-separated field (twostep_seed.py's step) is not sent
      local rest = string.sub(line, tab + 1)
      local tab2 = string.find(rest, "\t", 1, true)
      bodies[#bodies + 1] = tab2 and string.sub(rest, 1, tab2 - 1) or rest
    end
  end
  f:close()
  assert(#bodies > 0, "no requests in " .. args[1])
  once = args[3] == "1"
  nbodies = #bodies
  maxreq = tonumber(args[2]) or 100000
  if once and maxreq > #bodies then maxreq = #bodies end
  hdrs = { ["Content-Type"] = "application/json" }
  if args[4] and #args[4] > 0 then hdrs["Authorization"] = "Bearer " .. args[4] end
  idx, replies = 0, 0
  valid, rejected, reused, locked, other, overflow, wrapped = 0, 0, 0, 0, 0, 0, 0
  non2xx = 0
  overflow_replies = 0
  probed = not first_thread
  t_first, t_last = 0, 0
  statuses = {}
  sample = ""
end

function delay()
  if once and idx >= #bodies then return 10000 end
  return 0
end

function request()
  if not probed then
    -- wrk calls request() once on the first thread before connecting, to count
    -- pipelined requests, and never sends it: hand out the next body without using it
    -- (the other threads are not probed: see setup).
    probed = true
    return wrk.format("POST", paths[idx + 1], hdrs, bodies[idx + 1])
  end
  if t_first == 0 then t_first = now_s() end
  idx = idx + 1
  if idx > #bodies then
    if once then
      overflow = overflow + 1
      return wrk.format("GET", "/healthz")
    end
    idx = 1
    wrapped = wrapped + 1
  end
  return wrk.format("POST", paths[idx], hdrs, bodies[idx])
end

local function is_valid(body)
  return string.find(body, '"valid":true', 1, true) or string.find(body, '"valid": true', 1, true)
end

local function is_invalid(body)
  return string.find(body, '"valid":false', 1, true) or string.find(body, '"valid": false', 1, true)
end

function response(status, headers, body)
  if once and overflow_replies < overflow and status == 200
      and not string.find(body, '"valid"', 1, true) then
    overflow_replies = overflow_replies + 1
    return
  end
  replies = replies + 1
  t_last = now_s()
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
  if status == 200 and is_valid(body) then
    valid = valid + 1
  elseif status == 200 and is_invalid(body) then
    rejected = rejected + 1
  elseif status == 400 and string.find(body, "code_reused", 1, true) then
    reused = reused + 1
  elseif status == 400 and string.find(body, "invalid_code", 1, true) then
    rejected = rejected + 1
  elseif status == 429 then
    locked = locked + 1
  else
    other = other + 1
    statuses[status] = (statuses[status] or 0) + 1
    if #sample == 0 then sample = status .. " " .. string.sub(body or "", 1, 300) end
  end
  if replies >= maxreq then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local c = {
    valid = 0, rejected = 0, reused = 0, locked = 0, other = 0, non2xx = 0, overflow = 0,
    wrapped = 0,
  }
  local hist, first = {}, ""
  local replies, t0, t1 = 0, math.huge, 0
  local sent, unfinished = 0, 0
  for _, t in ipairs(threads) do
    for k, _ in pairs(c) do c[k] = c[k] + t:get(k) end
    replies = replies + t:get("replies")
    local n = t:get("idx") - t:get("overflow")
    if n > t:get("nbodies") and t:get("once") then n = t:get("nbodies") end
    sent = sent + n
    if t:get("replies") < t:get("maxreq") then unfinished = unfinished + 1 end
    if t:get("t_first") > 0 then t0 = math.min(t0, t:get("t_first")) end
    t1 = math.max(t1, t:get("t_last"))
    for s, n in pairs(t:get("statuses")) do hist[s] = (hist[s] or 0) + n end
    if #first == 0 then first = t:get("sample") end
  end
  local e = summary.errors
  local secs = t1 - t0
  if secs <= 0 then secs = summary.duration / 1e6 end
  io.write(string.format(
    "RESULT requests=%d duration_s=%.3f rps=%.1f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f " ..
    "max_ms=%.2f mean_ms=%.2f valid=%d rejected=%d reused=%d locked=%d other=%d non2xx=%d " ..
    "overflow=%d wrapped=%d err_connect=%d err_read=%d err_write=%d err_timeout=%d " ..
    "err_status=%d sent=%d unfinished=%d threads=%d\n",
    replies, secs, replies / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, latency.mean / 1000,
    c.valid, c.rejected, c.reused, c.locked, c.other, c.non2xx, c.overflow, c.wrapped,
    e.connect, e.read, e.write, e.timeout, e.status, sent, unfinished, #threads))
  local parts = {}
  for s, n in pairs(hist) do parts[#parts + 1] = s .. ":" .. n end
  if #parts > 0 then
    io.write("OTHER statuses=" .. table.concat(parts, ",") .. " first=" .. first .. "\n")
  end
end
