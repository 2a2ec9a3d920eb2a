-- qdb for nvim-dap: put this in your configuration (or require it), with qdb on your PATH.
local dap = require("dap")

dap.adapters.qdb = { type = "executable", command = "qdb", args = { "dap" } }

dap.configurations.python = dap.configurations.python or {}
table.insert(dap.configurations.python, {
  type = "qdb",
  request = "launch",
  name = "qdb: this file",
  program = "${file}",
  cwd = "${workspaceFolder}",
})
table.insert(dap.configurations.python, {
  type = "qdb",
  request = "attach",
  name = "qdb: attach to a session",
  server = "ws://127.0.0.1:8002",
  token = function() return vim.fn.input("qdb token: ") end,
  workspaceFolder = "${workspaceFolder}",
})
