-- Evaluates many display filters in one tshark pass, so the differential test does not pay
-- tshark's start-up once per filter. Each filter becomes a tap listener (tap filters are
-- compiled and applied by the same display-filter engine as -Y); a filter tshark rejects makes
-- Listener.new fail, which is recorded as REJECT with tshark's message.
--
-- Input: KS_FILTERS = file with one filter per line. Output: KS_OUT = one line per filter,
-- "OK<TAB>frame numbers separated by spaces" or "REJECT<TAB>message", in input order.
-- Run: KS_FILTERS=f.txt KS_OUT=o.txt tshark -q -r CAP -X lua_script:tests/filters/batch.lua
local filters = {}
for line in io.lines(os.getenv("KS_FILTERS")) do
  filters[#filters + 1] = line
end
local hits = {}
local errors = {}
for i, f in ipairs(filters) do
  local ok, l = pcall(Listener.new, nil, f)
  if ok then
    local h = {}
    hits[i] = h
    l.packet = function(pinfo) h[#h + 1] = pinfo.number end
  else
    hits[i] = false
    errors[i] = tostring(l):gsub("[\r\n\t]", " ")
  end
end
local last = Listener.new(nil, nil)
last.draw = function()
  local out = assert(io.open(os.getenv("KS_OUT"), "w"))
  for i = 1, #filters do
    if hits[i] == false then
      out:write("REJECT\t", errors[i], "\n")
    else
      out:write("OK\t", table.concat(hits[i], " "), "\n")
    end
  end
  out:close()
end
