-- wrk script of bench/api_load.py: POSTs one ECS JSON 1.1 request over and over.
-- KECS_OP names the operation (RunTask, DescribeTasks, ListClusters); KECS_BODY_FILE holds
-- the request body.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-amz-json-1.1"
wrk.headers["X-Amz-Target"] = "AmazonEC2ContainerServiceV20141113." .. os.getenv("KECS_OP")
local f = assert(io.open(os.getenv("KECS_BODY_FILE"), "r"))
wrk.body = f:read("*a")
f:close()
