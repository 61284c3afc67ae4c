-- wrk script: POST /telemetry with NDJSON batches of distinct heart-rate readings, as a gateway
-- forwarding many wearables would. Every reading of the run is new (patient x time), so each
-- one is parsed, checked, stored durably and scored; none is a duplicate.
--   BATCH    readings per request (default 1000)
--   PATIENTS distinct patients the readings cycle through (default 10000)
--   TOKEN    a bearer token (an administrator's, from `medulla token`)
-- wrk runs this script in one Lua state per thread; each thread takes its own range of
-- readings (setup numbers the threads), so threads never send the same reading twice.
local batch = tonumber(os.getenv("BATCH") or "1000")
local patients = tonumber(os.getenv("PATIENTS") or "10000")
local token = os.getenv("TOKEN")
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local sent = 0
local lines = {}
local slot_text = {}
-- Readings are recent (from the start of the run, a millisecond apart per round of the
-- patients): old readings would leave the patients "silent" by the wall clock, and the
-- device-silence alerts they raised would be a different benchmark.
local t0 = os.time()
local headers = { ["Content-Type"] = "application/x-ndjson" }
if token then headers["Authorization"] = "Bearer " .. token end

local function slot(n)
  local s = slot_text[n]
  if not s then
    local ms = n % 1000
    s = os.date("!%Y-%m-%dT%H:%M:%S", t0 + math.floor(n / 1000)) .. string.format(".%03dZ", ms)
    slot_text[n] = s
  end
  return s
end

function request()
  -- Reading k of this thread: patient k mod PATIENTS at millisecond k div PATIENTS; threads
  -- are 10^9 readings apart, so they never meet.
  local base = thread_id * 1000000000 + sent * batch
  sent = sent + 1
  for i = 1, batch do
    local k = base + i - 1
    local p = k % patients
    lines[i] = string.format(
      '{"patient":"Patient/bench%d","device":"Device/bench%d","code":"8867-4","time":"%s","value":%d,"unit":"/min"}',
      p, p, slot(math.floor(k / patients)), 60 + k % 37)
  end
  return wrk.format("POST", "/telemetry", headers, table.concat(lines, "\n", 1, batch))
end

local refused = 0
function response(status, headers, body)
  if status ~= 200 then
    refused = refused + 1
    if refused <= 3 then io.stderr:write("status ", status, ": ", body:sub(1, 300), "\n") end
  end
end

function done(summary, latency, requests)
  -- Only answered batches count (a refused one, e.g. 429, stored nothing).
  local readings = (summary.requests - summary.errors.status) * batch
  io.write(string.format("refused requests: %d\n", summary.errors.status))
  io.write(string.format("readings/s: %.0f\n", readings / (summary.duration / 1e6)))
  io.write(string.format("batch: %d\n", batch))
  io.write(string.format("latency p50/p99 ms: %.1f %.1f\n", latency:percentile(50) / 1000,
                         latency:percentile(99) / 1000))
end
