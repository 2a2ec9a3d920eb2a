// The qdb debug type for VS Code: runs `qdb dap` (the command in the `qdb.command` setting) as
// the debug adapter. Plain JavaScript, no build step.
const vscode = require("vscode");

function activate(context) {
  const factory = {
    createDebugAdapterDescriptor() {
      const [command, ...args] = vscode.workspace.getConfiguration("qdb").get("command", ["qdb"]);
      return new vscode.DebugAdapterExecutable(command, [...args, "dap"]);
    },
  };
  context.subscriptions.push(
    vscode.debug.registerDebugAdapterDescriptorFactory("qdb", factory),
  );
}

function deactivate() {}

module.exports = { activate, deactivate };
