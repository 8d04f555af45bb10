-- GET / on bench's own NGINX, which answers from its config: the HTTP ceiling.
package.path = package.path .. ";" .. os.getenv("BENCH_LUA_DIR") .. "/?.lua"
local common = require("common")
wrk.path = "/"
done = common.done
