// The qdb debug type for VS Code: runs `qdb dap` (the command in the `qdb.command` setting) as
// the debug adapter, and picks a running Python process to attach to (`qdb ps --json`), as the
// Python extension's process picker does. Plain JavaScript, no build step.
const vscode = require("vscode");
const childProcess = require("child_process");

function qdbCommand() {
  return vscode.workspace.getConfiguration("qdb").get("command", ["qdb"]);
}

/** The Python processes `qdb ps` lists, for a quick pick; resolves with the pid chosen. */
function pickProcess() {
  const [command, ...args] = qdbCommand();
  return new Promise((resolve, reject) => {
    childProcess.execFile(command, [...args, "ps", "--json"], (error, stdout) => {
      if (error) return reject(new Error(`qdb ps failed: ${error.message}`));
      let found;
      try {
        found = JSON.parse(stdout);
      } catch (parseError) {
        return reject(new Error(`qdb ps said something else than JSON: ${parseError}`));
      }
      const items = found.map((p) => ({
        label: `${p.pid}`,
        description: p.argv.join(" "),
        detail: `Python ${p.version}${p.qdb ? " (runs under qdb already)" : ""}`,
        pid: String(p.pid),
      }));
      vscode.window.showQuickPick(items, {
        placeHolder: "The Python process to attach to",
        matchOnDescription: true,
      }).then((chosen) => resolve(chosen ? chosen.pid : undefined), reject);
    });
  });
}

function activate(context) {
  const factory = {
    createDebugAdapterDescriptor() {
      const [command, ...args] = qdbCommand();
      return new vscode.DebugAdapterExecutable(command, [...args, "dap"]);
    },
  };
  context.subscriptions.push(
    vscode.debug.registerDebugAdapterDescriptorFactory("qdb", factory),
    vscode.commands.registerCommand("qdb.pickProcess", pickProcess),
  );
}

function deactivate() {}

module.exports = { activate, deactivate };
