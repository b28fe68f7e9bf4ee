-- wrk script of `promobridge bench claims`: POST /v1/claims, one customer per request.
--
-- Arguments (after `--`): campaign id, first customer index, customers available, threads,
-- stop (1: each thread stops once its share of customers got a 202; 0: run for the duration),
-- client API key.
--
-- Customer i of campaign C is "C-%07d" (the simulator's ids). Thread t of n posts the customers
-- first + t, first + t + n, ...: claims are one per customer, so every request is a new claim. A
-- thread past its share replays its first claim (same body, same Idempotency-Key): answered 200,
-- nothing created. done() prints one line, "promobridge-load {json}", for the benchmark to read.

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  campaign = tonumber(args[1])
  first = tonumber(args[2])
  available = tonumber(args[3])
  stride = tonumber(args[4])
  stop_when_done = args[5] == "1"
  headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. args[6],
  }
  share = 0
  if id < available then
    share = math.floor((available - 1 - id) / stride) + 1
  end
  sent, created, replayed, other = 0, 0, 0, 0
end

function request()
  local n = sent
  if n >= share then
    n = 0
  end
  sent = sent + 1
  local customer = string.format("%d-%07d", campaign, first + id + stride * n)
  headers["Idempotency-Key"] = customer
  local body = string.format('{"campaign_id":%d,"customer_id":"%s"}', campaign, customer)
  return wrk.format("POST", nil, headers, body)
end

function response(status, headers, body)
  if status == 202 then
    created = created + 1
  elseif status == 200 then
    replayed = replayed + 1
  else
    other = other + 1
  end
  if stop_when_done and created >= share then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local created, replayed, other = 0, 0, 0
  for _, thread in ipairs(threads) do
    created = created + thread:get("created")
    replayed = replayed + thread:get("replayed")
    other = other + thread:get("other")
  end
  local errors = summary.errors
  io.write(string.format(
    'promobridge-load {"requests":%d,"duration_us":%d,"created":%d,"replayed":%d,"other":%d,'
      .. '"socket_errors":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, created, replayed, other,
    errors.connect + errors.read + errors.write + errors.timeout,
    math.floor(latency:percentile(50)), math.floor(latency:percentile(99))
  ))
end
