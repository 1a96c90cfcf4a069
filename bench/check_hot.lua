-- POST /api/v1/client/check for one license, over and over.
-- Usage: wrk ... -s bench/check_hot.lua URL -- KEY PRODUCT HARDWARE_ID
local body

function init(args)
  body = string.format('{"license_key":"%s","hardware_id":"%s","product":"%s"}', args[1], args[3], args[2])
end

function request()
  return wrk.format("POST", "/api/v1/client/check", { ["Content-Type"] = "application/json" }, body)
end
