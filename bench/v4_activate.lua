-- POST /api/v4/activate_license of a new device each request, on a license with unlimited activations.
-- Usage: wrk ... -s bench/v4_activate.lua URL -- DATE AUTHORIZATION KEY PRODUCT
local date, auth, key, product
local n = 0

function init(args)
  date, auth, key, product = args[1], args[2], args[3], args[4]
  math.randomseed(os.time())
end

function request()
  n = n + 1
  local body = string.format('{"product": "%s", "hardware_id": "bench-%d-%d", "license_key": "%s", "os_ver": "linux", "hostname": "bench"}', product, math.random(1e9), n, key)
  return wrk.format("POST", "/api/v4/activate_license", { ["Date"] = date, ["Authorization"] = auth, ["Content-Type"] = "application/json" }, body)
end
