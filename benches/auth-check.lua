-- wrk script for scripts/load-bench.sh: GET /api/v1/auth/check?resource=jobs&operation=list
-- with a different Authorization header per request, taken round-robin from the file in
-- $PAT_MIX (the seed example's mix: valid, revoked, unknown and malformed tokens).
-- Counts responses by class so the report can show "no errors" means no 5xx and no
-- unexpected statuses (204 for valid, 401 for the rest).

local path = "/api/v1/auth/check?resource=jobs&operation=list"
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  values = {}
  for line in io.lines(os.getenv("PAT_MIX")) do
    table.insert(values, line)
  end
  -- Each thread starts at a different place in the mix.
  index = math.random(#values)
  s2xx, s401, s403, s429, s5xx, other = 0, 0, 0, 0, 0, 0
end

function request()
  index = index % #values + 1
  return wrk.format("GET", path, { ["Authorization"] = values[index] })
end

function response(status, headers, body)
  if status >= 200 and status < 300 then s2xx = s2xx + 1
  elseif status == 401 then s401 = s401 + 1
  elseif status == 403 then s403 = s403 + 1
  elseif status == 429 then s429 = s429 + 1
  elseif status >= 500 then s5xx = s5xx + 1
  else other = other + 1 end
end

function done(summary, latency, requests)
  local t = { s2xx = 0, s401 = 0, s403 = 0, s429 = 0, s5xx = 0, other = 0 }
  for _, thread in ipairs(threads) do
    for k, _ in pairs(t) do t[k] = t[k] + thread:get(k) end
  end
  io.write(string.format(
    "STATUSES 2xx=%d 401=%d 403=%d 429=%d 5xx=%d other=%d socket_errors=%d\n",
    t.s2xx, t.s401, t.s403, t.s429, t.s5xx, t.other,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
  io.write(string.format("LATENCY_US p50=%d p99=%d max=%d\n",
    latency:percentile(50), latency:percentile(99), latency.max))
end
