-- POST /api/v1/client/check for a random activated license of a `licensd dev seed --keys-out` file.
-- Usage: wrk ... -s bench/check_spread.lua URL -- KEYS_FILE
local entries = {}

function init(args)
  for line in io.lines(args[1]) do
    local key, product, hw = line:match("^(%S+) (%S+) (%S+)$")
    if key then entries[#entries + 1] = { key, product, hw } end
  end
  math.randomseed(os.time() + #entries)
end

function request()
  local e = entries[math.random(#entries)]
  local body = string.format('{"license_key":"%s","hardware_id":"%s","product":"%s","nonce":"%d"}', e[1], e[3], e[2], math.random(1e9))
  return wrk.format("POST", "/api/v1/client/check", { ["Content-Type"] = "application/json" }, body)
end
