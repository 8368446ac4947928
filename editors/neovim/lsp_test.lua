-- Neovim (0.7 or later) as a real LSP client of `resc lsp`, headless:
--   nvim --headless -u NONE -l editors/neovim/lsp_test.lua   (0.9+)
--   nvim --headless -u NONE +"luafile editors/neovim/lsp_test.lua"   (0.7)
-- RESC (environment) names the binary; RESC_ROOT the checkout.
-- Exits 0 when every check passes, 1 with a message otherwise.

local resc = os.getenv("RESC") or "resc"
local root = os.getenv("RESC_ROOT") or vim.fn.getcwd()
local failures = {}

local function check(cond, what)
  if not cond then
    table.insert(failures, what)
    io.stderr:write("FAIL: " .. what .. "\n")
  else
    io.stderr:write("ok: " .. what .. "\n")
  end
end

local function finish()
  if #failures == 0 then
    vim.cmd("qa!")
  else
    vim.cmd("cq")
  end
end

-- A scratch copy of a file with several independent errors.
local dir = vim.fn.tempname()
vim.fn.mkdir(dir, "p")
local path = dir .. "/broken.res"
local src = root .. "/tests/cases/errors/many_errors_one_file.res"
vim.fn.writefile(vim.fn.readfile(src), path)

vim.cmd("edit " .. vim.fn.fnameescape(path))
local buf = vim.api.nvim_get_current_buf()
-- `.res` is ReScript's extension too: the filetype is set by hand.
vim.bo[buf].filetype = "resc"

local client_id = vim.lsp.start_client({
  name = "resc",
  cmd = { resc, "lsp" },
  root_dir = dir,
})
check(client_id ~= nil, "the server starts")
vim.lsp.buf_attach_client(buf, client_id)

-- Diagnostics arrive with their codes, at the right places.
local got = vim.wait(20000, function() return #vim.diagnostic.get(buf) >= 4 end, 50)
check(got, "diagnostics are published for the broken file")
local diags = vim.diagnostic.get(buf)
local by_code = {}
for _, d in ipairs(diags) do
  local code = d.code or (d.user_data and d.user_data.lsp and d.user_data.lsp.code)
  by_code[code] = d
end
check(by_code["resc::syntax::unexpected"] ~= nil, "the syntax error is reported")
local unknown = by_code["resc::sema::unknown_name"]
check(unknown ~= nil, "the unknown layer is reported")
if unknown then
  -- line 8 (1-based) of the file: `    conv1: conv(c, 3);  bn1: batchnorm`
  local line = vim.api.nvim_buf_get_lines(buf, unknown.lnum, unknown.lnum + 1, false)[1]
  check(unknown.lnum == 7, "unknown name on line 8, got " .. tostring(unknown.lnum + 1))
  check(line:sub(unknown.col + 1, unknown.col + 9) == "batchnorm", "the range covers `batchnorm`")
  check(unknown.message:find("did you mean `bn`", 1, true) ~= nil, "the help is in the message")
end
check(by_code["resc::shape::mismatch"] ~= nil, "the shape error is reported")

local function request(method, line, col)
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(buf) },
    position = { line = line, character = col },
  }
  local res = vim.lsp.buf_request_sync(buf, method, params, 10000)
  if not res then return nil end
  for _, r in pairs(res) do
    if r.result then return r.result end
  end
  return nil
end

local function find(needle)
  local lines = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
  for i, l in ipairs(lines) do
    local c = l:find(needle, 1, true)
    if c then return i - 1, c - 1 end
  end
  error("not found: " .. needle)
end

-- Hover on a stage label: the stage's output shape.
local l, c = find("layer1: basic")
local hover = request("textDocument/hover", l, c + 2)
local text = hover and hover.contents and (hover.contents.value or hover.contents) or ""
check(type(text) == "string" and text:find("[N, 16, 32, 32]", 1, true) ~= nil,
  "hover on a stage label shows its shape: " .. vim.inspect(text))

-- Go to a block's definition.
l, c = find("layer2: basic")
local def = request("textDocument/definition", l, c + 9)
if def and def[1] then def = def[1] end
local want_line = select(1, find("block basic"))
check(def ~= nil and def.range ~= nil and def.range.start.line == want_line,
  "definition of `basic` is its block line " .. want_line .. ": " .. vim.inspect(def))

-- Fix the file in the buffer: the diagnostics clear.
vim.cmd([[silent! %s/conv(c, 3,, pad: 1)/conv(c, 3, pad: 1)/]])
vim.cmd([[silent! %s/batchnorm/bn/]])
vim.cmd([[silent! %s/, dilation: 1//]])
vim.cmd([[silent! %s/layer2: basic(32, stride: 2)/layer2: basic(16)/]])
got = vim.wait(20000, function() return #vim.diagnostic.get(buf) == 0 end, 50)
check(got, "the diagnostics clear when the text is fixed: " .. vim.inspect(vim.diagnostic.get(buf)))

-- Formatting through the server.
vim.api.nvim_buf_set_lines(buf, 0, 0, false, { "block   extra(c:int){  conv1:conv(c,1);bn1:bn  }" })
local formatter = vim.lsp.buf.format or function(o) vim.lsp.buf.formatting_sync(nil, o.timeout_ms) end
formatter({ timeout_ms = 10000 })
local first = vim.api.nvim_buf_get_lines(buf, 0, 1, false)[1]
check(first == "block extra(c: int) { conv1: conv(c, 1);  bn1: bn }" or first == "block extra(c: int) {",
  "formatting rewrites the buffer: " .. first)

vim.lsp.stop_client(client_id)
finish()
