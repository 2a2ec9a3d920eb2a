;;; qdb-dape.el --- qdb configurations for dape  -*- lexical-binding: t; -*-

;;; Commentary:
;; Debug Python with qdb from Emacs through dape (M-x dape, then qdb or qdb-attach),
;; with qdb on your PATH.

;;; Code:

(require 'dape)

(add-to-list 'dape-configs
             `(qdb
               modes (python-mode python-ts-mode)
               command "qdb"
               command-args ("dap")
               :request "launch"
               :program dape-buffer-default
               :cwd dape-cwd))

(add-to-list 'dape-configs
             `(qdb-attach
               modes (python-mode python-ts-mode)
               command "qdb"
               command-args ("dap")
               :request "attach"
               :server "ws://127.0.0.1:8002"
               :workspaceFolder dape-cwd))

(provide 'qdb-dape)
;;; qdb-dape.el ends here
