-- GET /api/v4/check_license as LicenseSpring's SDKs send it (HMAC over a Date the script is given: the server
-- accepts a Date up to 15 minutes old, so one signature serves a whole run).
-- Usage: wrk ... -s bench/v4_check.lua URL -- DATE AUTHORIZATION KEYS_FILE [hot|walk|random]
--   hot: the first activated license, over and over; walk: each activated license in turn (a warm-up that
--   touches every device once); random: a random one per request.
local entries, date, auth, mode, at = {}, nil, nil, "random", 0

local function escape(s)
  return (s:gsub("[^%w%-_%.~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

function init(args)
  date, auth, mode = args[1], args[2], args[4] or "random"
  for line in io.lines(args[3]) do
    local key, product, hw = line:match("^(%S+) (%S+) (%S+)$")
    if key then entries[#entries + 1] = string.format("/api/v4/check_license?product=%s&hardware_id=%s&license_key=%s&include_expired_features=false", escape(product), escape(hw), escape(key)) end
  end
  math.randomseed(os.time() + #entries)
end

function request()
  local path
  if mode == "hot" then
    path = entries[1]
  elseif mode == "walk" then
    at = at % #entries + 1
    path = entries[at]
  else
    path = entries[math.random(#entries)]
  end
  return wrk.format("GET", path, { ["Date"] = date, ["Authorization"] = auth, ["Content-Type"] = "application/json" })
end
