-- wrk: POST /dispatch/recommend for incidents at seeded random places around Porto (where
-- tests/data/routing/hospitals.csv lies) with mixed conditions; bench/dispatch_http.sh.
local conditions = {"general", "general", "general", "stroke", "stemi", "major-trauma",
                    "cardiac-arrest", "obstetric"}
math.randomseed(7)
local bodies = {}
for i = 1, 500 do
  local lon = -8.66 + math.random() * 0.16
  local lat = 41.12 + math.random() * 0.10
  bodies[i] = string.format(
    '{"incident":{"location":[%.6f,%.6f],"condition":"%s","lvo_suspected":%s}}',
    lon, lat, conditions[math.random(#conditions)], tostring(math.random() < 0.3))
end
local n = 0
request = function()
  n = n % #bodies + 1
  -- wrk.format uses only the headers given: carry over -H (the token).
  local headers = {["content-type"] = "application/json"}
  for k, v in pairs(wrk.headers) do headers[k] = v end
  return wrk.format("POST", "/dispatch/recommend", headers, bodies[n])
end

done = function(summary, latency, requests)
  io.write(string.format("p50 %.2f ms, p99 %.2f ms over %d requests\n",
                         latency:percentile(50) / 1000, latency:percentile(99) / 1000,
                         summary.requests))
end
