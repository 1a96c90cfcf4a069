-- POST /api/v1/client/activate: every request a new device on a license with unlimited activations.
-- Usage: wrk ... -s bench/activate.lua URL -- KEY PRODUCT
local key, product, prefix
local n = 0

function init(args)
  key, product = args[1], args[2]
  math.randomseed(os.time())
  prefix = string.format("bench-%d", math.random(1e9))
end

function request()
  n = n + 1
  local body = string.format('{"license_key":"%s","hardware_id":"%s-%d","product":"%s"}', key, prefix, n, product)
  return wrk.format("POST", "/api/v1/client/activate", { ["Content-Type"] = "application/json" }, body)
end
