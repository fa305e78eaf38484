-- wrk: ingestDetections batches of 10 as GraphQL JSON, a fresh frame id per request (track t0
-- crosses the zone on every other frame). Args: <access token> <run id>. Used by
-- `bench/run perception` and bench/profile-ingest, followed by done.lua.
local counter = 0
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function init(args)
  token = args[1]
  run = args[2]
  wrk.method = "POST"
  wrk.headers["content-type"] = "application/json"
  wrk.headers["authorization"] = "Bearer " .. token
end
function request()
  counter = counter + 1
  local x0 = (counter % 2 == 0) and 0.7 or 0.1
  local parts = {}
  for i = 0, 9 do
    local x = (i == 0) and x0 or (0.05 + 0.08 * (i % 10))
    parts[#parts + 1] = string.format('{"label":"person","confidence":0.9,"trackId":"t%d","bbox":{"x":%.2f,"y":0.3,"w":0.05,"h":0.2}}', i, x)
  end
  local body = string.format('{"query":"mutation($i: DetectionBatchInput!) { ingestDetections(input: $i) { events } }","variables":{"i":{"cameraId":"bench","taskType":"detect","frameId":"%s-%d-%d","capturedAt":"%s","detections":[%s]}}}',
    run, id, counter, os.date("!%Y-%m-%dT%H:%M:%SZ"), table.concat(parts, ","))
  return wrk.format(nil, "/graphql", nil, body)
end
