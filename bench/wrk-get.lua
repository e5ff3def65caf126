-- wrk -s bench/wrk-get.lua URL -- PREFIX N: GET /posts/PREFIX<i> for i at random in [0, N).
local prefix, n
function init(args)
  prefix = args[1]
  n = tonumber(args[2])
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end
function request()
  return wrk.format("GET", "/posts/" .. prefix .. math.random(0, n - 1))
end
function response(status)
  if status ~= 200 then
    wrk.thread:set("bad", (wrk.thread:get("bad") or 0) + 1)
  end
end
