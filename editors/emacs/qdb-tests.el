;;; qdb-tests.el --- ERT tests of qdb.el  -*- lexical-binding: t; -*-

;;; Commentary:

;; Run by tests/emacs_test.ts in batch Emacs against a real `qdb serve' and
;; `qdb trace' on testdata/contract.py (copied), which the environment names:
;; QDB_TEST_COMMAND (how to run qdb, words separated by spaces), QDB_TEST_SERVER,
;; QDB_TEST_SESSION, QDB_TEST_PROGRAM and QDB_TOKEN.  The tests without a
;; session run anywhere.

;;; Code:

(require 'ert)
(require 'qdb)

(defvar qdb-tests--guard 60
  "Seconds a wait lasts before it fails the test: a hang guard, not a speed test.")

(defun qdb-tests--wait (what predicate)
  "Wait until PREDICATE is true; fail saying WHAT was awaited, and the session's text."
  (let ((deadline (+ (float-time) qdb-tests--guard)))
    (while (not (funcall predicate))
      (when (> (float-time) deadline)
        (error "No %s after %ss; the session said:\n%s" what qdb-tests--guard
               (if (buffer-live-p qdb--buffer)
                   (with-current-buffer qdb--buffer (buffer-string))
                 "(no session)")))
      (accept-process-output nil 0.05))
    t))

(defun qdb-tests--arrow ()
  "The file and line of the overlay arrow, or nil."
  (when (and (markerp overlay-arrow-position) (marker-buffer overlay-arrow-position))
    (with-current-buffer (marker-buffer overlay-arrow-position)
      (list (qdb--buffer-path) (line-number-at-pos overlay-arrow-position)))))

(defun qdb-tests--marks (buffer)
  "The lines of BUFFER that show a breakpoint."
  (with-current-buffer buffer
    (sort (mapcar (lambda (o) (line-number-at-pos (overlay-start o)))
                  (seq-filter (lambda (o) (overlay-get o 'qdb-breakpoint))
                              (overlays-in (point-min) (point-max))))
          #'<)))

(defun qdb-tests--ended ()
  "Whether the session's process has ended and its sentinel has run."
  (and (not (process-live-p (buffer-local-value 'qdb--process qdb--buffer)))
       (not qdb-minor-mode)))

(defun qdb-tests--has (buffer regexp)
  "Whether BUFFER shows REGEXP."
  (and (buffer-live-p buffer)
       (with-current-buffer buffer
         (save-excursion
           (goto-char (point-min))
           (re-search-forward regexp nil t)))))

(defun qdb-tests--said (regexp)
  "Whether the interaction buffer shows REGEXP."
  (with-current-buffer qdb--buffer
    (save-excursion
      (goto-char (point-min))
      (re-search-forward regexp nil t))))

(ert-deftest qdb-old-sentinel ()
  "The end of an earlier process of a session's buffer leaves the new session alone."
  (let* ((buffer (get-buffer-create "*qdb sentinel test*"))
         (old (make-process :name "qdb-old" :buffer buffer :command '("true") :noquery t))
         (new (make-process :name "qdb-new" :buffer buffer :command '("sleep" "60")
                            :noquery t)))
    (unwind-protect
        (progn
          (with-current-buffer buffer
            (qdb-mode)
            (setq qdb--process new))
          (setq qdb--buffer buffer)
          (qdb-minor-mode 1)
          (qdb-tests--wait "the old process's end" (lambda () (not (process-live-p old))))
          (qdb--sentinel old "finished\n")
          (should qdb-minor-mode)
          (delete-process new)
          (qdb--sentinel new "killed\n")
          (should-not qdb-minor-mode))
      (when (process-live-p new) (delete-process new))
      (qdb-minor-mode -1)
      (setq qdb--buffer nil)
      (kill-buffer buffer))))

(ert-deftest qdb-session ()
  "Attach, breakpoints from a buffer, stops, steps, the stack, eval, a second client."
  (skip-unless (getenv "QDB_TEST_SERVER"))
  (let* ((qdb-command (split-string (getenv "QDB_TEST_COMMAND")))
         (program (file-truename (getenv "QDB_TEST_PROGRAM")))
         (source (find-file-noselect program))
         (other nil))
    (unwind-protect
        (progn
          (ert-info ("the live sessions, as qdb-attach offers them")
            (should (equal (qdb--live-sessions (getenv "QDB_TEST_SERVER") (getenv "QDB_TOKEN"))
                           (list (getenv "QDB_TEST_SESSION")))))
          (ert-info ("attach: the program waits at its first line")
            (qdb-attach (getenv "QDB_TEST_SERVER") (getenv "QDB_TOKEN")
                        (getenv "QDB_TEST_SESSION"))
            (qdb-tests--wait "first stop"
                             (lambda () (equal (qdb-tests--arrow) (list program 2)))))
          (ert-info ("a breakpoint set in the source buffer, shown in its margin")
            (with-current-buffer source
              (goto-char (point-min))
              (forward-line 2)
              (qdb-break))
            (qdb-tests--wait "breakpoint mark"
                             (lambda () (equal (qdb-tests--marks source) '(3)))))
          (ert-info ("a condition given from the buffer")
            (with-current-buffer source
              (goto-char (point-min))
              (forward-line 2)
              (qdb-condition "n >= 0"))
            (qdb-tests--wait "the condition"
                             (lambda ()
                               (seq-some (lambda (bp) (equal (gethash "cond" bp) "n >= 0"))
                                         (buffer-local-value 'qdb--breakpoints qdb--buffer)))))
          (ert-info ("a snapshot breakpoint: taken as the line runs, shown in its buffer")
            (with-current-buffer source
              (goto-char (point-min))
              (forward-line 8)
              (qdb-snap))
            (qdb-tests--wait "the snapshot breakpoint"
                             (lambda ()
                               (seq-some (lambda (bp) (and (gethash "snapshot" bp)
                                                           (equal (gethash "line" bp) 9)))
                                         (buffer-local-value 'qdb--breakpoints qdb--buffer)))))
          (ert-info ("continue to it; step over; up and down the stack")
            (qdb-continue)
            (let ((snapshots (get-buffer "*qdb snapshots*")))
              (qdb-tests--wait "the snapshot taken on the way"
                               (lambda () (qdb-tests--has snapshots "^  total = 0$")))
              (should (qdb-tests--has snapshots "^Snapshot 1 of "))
              ;; Fetched again from the server, as after attaching.
              (qdb-snapshots)
              (qdb-tests--wait "the snapshots fetched again"
                               (lambda () (qdb-tests--has snapshots "^  total = 0$"))))
            (with-current-buffer source
              (goto-char (point-min))
              (forward-line 8)
              (qdb-remove))
            (qdb-tests--wait "stop at the breakpoint"
                             (lambda () (equal (qdb-tests--arrow) (list program 3))))
            (qdb-next)
            (qdb-tests--wait "stop after next"
                             (lambda () (equal (qdb-tests--arrow) (list program 4))))
            (qdb-up)
            (qdb-tests--wait "the caller's frame"
                             (lambda () (equal (qdb-tests--arrow) (list program 9))))
            (qdb-down)
            (qdb-tests--wait "back in visit"
                             (lambda () (equal (qdb-tests--arrow) (list program 4))))
            ;; gud's jump: back to line 3, and on to line 4 again (state as it was).
            (dolist (line '(3 4))
              (with-current-buffer source
                (goto-char (point-min))
                (forward-line (1- line))
                (qdb-jump))
              (qdb-tests--wait (format "jumped to %d" line)
                               (lambda () (equal (qdb-tests--arrow) (list program line))))))
          (ert-info ("first hour 2, item 13: TAB completes; a stop never takes the interaction window")
            (with-current-buffer qdb--buffer
              (should (eq (key-binding (kbd "TAB")) #'completion-at-point)))
            (qdb-locals)
            (delete-other-windows)
            (switch-to-buffer qdb--buffer)
            (let ((locals-window (split-window nil nil 'right)))
              (set-window-buffer locals-window (get-buffer "*qdb locals*"))
              (select-window locals-window)
              (should (get-buffer-window qdb--buffer))
              (qdb-up)
              (qdb-tests--wait "the caller's frame again"
                               (lambda () (equal (qdb-tests--arrow) (list program 9))))
              (should (get-buffer-window qdb--buffer))
              (should (get-buffer-window "*qdb locals*"))
              (should (get-buffer-window source))
              (qdb-down)
              (qdb-tests--wait "back in visit again"
                               (lambda () (equal (qdb-tests--arrow) (list program 4))))
              (should (get-buffer-window qdb--buffer))))
          (ert-info ("gud's many windows: interaction, locals, source, stack, breakpoints, watches")
            (qdb-many-windows)
            (dolist (name (list (buffer-name qdb--buffer) "*qdb locals*" "*qdb stack*"
                                "*qdb breakpoints*" "*qdb watches*"))
              (should (get-buffer-window name)))
            (should (get-buffer-window source))
            (should (qdb-tests--has (get-buffer "*qdb stack*") "^> .*contract\\.py:4 in visit$"))
            (should (qdb-tests--has (get-buffer "*qdb breakpoints*") "contract\\.py:3  if n >= 0"))
            (delete-other-windows)
            (switch-to-buffer qdb--buffer)
            ;; The steps below make these buffers again, and wait for their first contents.
            (dolist (name '("*qdb locals*" "*qdb stack*" "*qdb breakpoints*" "*qdb watches*"))
              (kill-buffer name)))
          (ert-info ("eval of the name at point")
            (with-current-buffer source
              (goto-char (point-min))
              (search-forward "label =")
              (goto-char (match-beginning 0))
              (qdb-print (qdb--expression-at-point)))
            (qdb-tests--wait "label's value"
                             (lambda () (qdb-tests--said "^'visit 0'$"))))
          (ert-info ("the locals tree: a list of 250 opened by pages; a watch; the threads")
            (qdb-locals)
            (let ((locals (get-buffer "*qdb locals*")))
              (qdb-tests--wait "the locals"
                               (lambda () (qdb-tests--has locals "^\\+ items: list = ")))
              (with-current-buffer locals
                (goto-char (point-min))
                (re-search-forward "^\\+ items")
                (qdb-locals-toggle))
              (qdb-tests--wait "the first page"
                               (lambda () (qdb-tests--has locals "^ *\\.\\.\\. 150 more")))
              (should (qdb-tests--has locals "^    \\[99\\]: int = 99$"))
              (should-not (qdb-tests--has locals "\\[100\\]"))
              (with-current-buffer locals
                (goto-char (point-min))
                (re-search-forward "more")
                (qdb-locals-toggle))
              (qdb-tests--wait "the second page"
                               (lambda () (qdb-tests--has locals "^ *\\.\\.\\. 50 more")))
              (should (qdb-tests--has locals "^    \\[199\\]: int = 199$")))
            (qdb-watch "n * 2 + 1")
            (qdb-tests--wait "the watch"
                             (lambda () (qdb-tests--has (get-buffer "*qdb watches*")
                                                        "^n \\* 2 \\+ 1 = 1$")))
            (qdb-threads)
            (qdb-tests--wait "the threads"
                             (lambda () (qdb-tests--has (get-buffer "*qdb threads*")
                                                        "MainThread  stopped"))))
          (ert-info ("a command typed in the interaction buffer, and completion there")
            (with-current-buffer qdb--buffer
              (goto-char (point-max))
              (insert "p n + 40")
              (comint-send-input))
            (qdb-tests--wait "n + 40" (lambda () (qdb-tests--said "^40$")))
            ;; The terminal's own commands, beyond pdb's basic ones: its answer as it gives it.
            (with-current-buffer qdb--buffer
              (goto-char (point-max))
              (insert "args")
              (comint-send-input))
            (qdb-tests--wait "args" (lambda () (qdb-tests--said "^n = 0$")))
            (with-current-buffer qdb--buffer
              (goto-char (point-max))
              (insert "lab")
              (should (member "label" (nth 2 (qdb--completion-at-point))))
              (comint-kill-input)))
          (ert-info ("a breakpoint another client sets appears in the buffer")
            (let ((process-environment (cons (concat "QDB_TOKEN=" (getenv "QDB_TOKEN"))
                                             process-environment)))
              (setq other (make-process
                           :name "qdb-other"
                           :command (append qdb-command
                                            (list "attach" "--json" "--server"
                                                  (getenv "QDB_TEST_SERVER")
                                                  (getenv "QDB_TEST_SESSION")))
                           :connection-type 'pipe
                           :noquery t)))
            (process-send-string
             other (concat (json-serialize (list :e "set_break"
                                                 :p (list :file program :line 9)))
                           "\n"))
            (qdb-tests--wait "the other client's breakpoint"
                             (lambda () (equal (qdb-tests--marks source) '(3 9))))
            (qdb-tests--wait "the other client shown" (lambda () (qdb-tests--said "joined"))))
          (ert-info ("detach, and attach again: the session was kept as it was")
            (qdb-detach)
            ;; Until the sentinel has run (the process ends first): the arrow goes with it.
            (qdb-tests--wait "detached"
                             (lambda () (and (qdb-tests--ended) (not (qdb-tests--arrow)))))
            (qdb-attach (getenv "QDB_TEST_SERVER") (getenv "QDB_TOKEN")
                        (getenv "QDB_TEST_SESSION"))
            (qdb-tests--wait "the same stop"
                             (lambda () (equal (qdb-tests--arrow) (list program 4))))
            (qdb-tests--wait "the marks again"
                             (lambda () (equal (qdb-tests--marks source) '(3 9)))))
          (ert-info ("clear from the buffer; quit ends the program")
            (with-current-buffer source
              (goto-char (point-min))
              (forward-line 2)
              (qdb-toggle-break))
            (qdb-tests--wait "the mark gone"
                             (lambda () (equal (qdb-tests--marks source) '(9))))
            (qdb-quit t)
            (qdb-tests--wait "the end, without arrow or marks"
                             (lambda () (and (qdb-tests--ended)
                                             (not (qdb-tests--marks source))
                                             (not (qdb-tests--arrow)))))))
      (when (process-live-p other) (delete-process other))
      (when (buffer-live-p qdb--buffer)
        (let ((process (buffer-local-value 'qdb--process qdb--buffer)))
          (when (process-live-p process) (delete-process process)))))))

(ert-deftest qdb-run-local ()
  "A program on this machine: its stop, its output, its end."
  (skip-unless (getenv "QDB_TEST_PRIMES"))
  (let ((qdb-command (split-string (getenv "QDB_TEST_COMMAND")))
        (qdb-python (getenv "QDB_TEST_PYTHON"))
        (program (file-truename (getenv "QDB_TEST_PRIMES"))))
    (unwind-protect
        (progn
          (qdb-run program "20")
          (qdb-tests--wait "the first line"
                           (lambda () (equal (qdb-tests--arrow) (list program 1))))
          (with-current-buffer qdb--buffer
            (goto-char (point-max))
            (insert "c")
            (comint-send-input))
          (qdb-tests--wait "the output" (lambda () (qdb-tests--said "^2 3 5 7 11 13 17 19")))
          (qdb-tests--wait "the end"
                           (lambda () (qdb-tests--said "The program exited with code 0")))
          (qdb-tests--wait "the process gone"
                           #'qdb-tests--ended))
      (let ((process (buffer-local-value 'qdb--process qdb--buffer)))
        (when (process-live-p process) (delete-process process))))))

(ert-deftest qdb-run-quit ()
  "After a soft quit, the rest of the program's output still shows."
  (skip-unless (getenv "QDB_TEST_PRIMES"))
  (let ((qdb-command (split-string (getenv "QDB_TEST_COMMAND")))
        (qdb-python (getenv "QDB_TEST_PYTHON"))
        (program (file-truename (getenv "QDB_TEST_PRIMES"))))
    (unwind-protect
        (progn
          (qdb-run program "20")
          (qdb-tests--wait "the first line"
                           (lambda () (equal (qdb-tests--arrow) (list program 1))))
          (qdb-quit)
          (qdb-tests--wait "the output after the quit"
                           (lambda () (qdb-tests--said "^2 3 5 7 11 13 17 19")))
          (qdb-tests--wait "the process gone" #'qdb-tests--ended))
      (let ((process (buffer-local-value 'qdb--process qdb--buffer)))
        (when (process-live-p process) (delete-process process))))))

(ert-deftest qdb-remote-source ()
  "A file that is only on the program's machine opens read-only from its text."
  (skip-unless (getenv "QDB_TEST_REMOTE"))
  (let ((qdb-command (split-string (getenv "QDB_TEST_COMMAND")))
        (path (getenv "QDB_TEST_REMOTE")))
    (should-not (file-exists-p path))
    (unwind-protect
        (progn
          (qdb-attach (getenv "QDB_TEST_SERVER") (getenv "QDB_TOKEN")
                      (getenv "QDB_TEST_SESSION"))
          (qdb-tests--wait "the first line" (lambda () (equal (qdb-tests--arrow) (list path 1))))
          (let ((buffer (marker-buffer overlay-arrow-position)))
            (with-current-buffer buffer
              (should buffer-read-only)
              (should (string-prefix-p "def work(n):" (buffer-string)))
              (goto-char (point-min))
              (forward-line 1)
              (qdb-break))
            (qdb-tests--wait "the mark" (lambda () (equal (qdb-tests--marks buffer) '(2))))
            (qdb-continue)
            (qdb-tests--wait "the stop there"
                             (lambda () (equal (qdb-tests--arrow) (list path 2)))))
          (qdb-quit t)
          (qdb-tests--wait "the end"
                           #'qdb-tests--ended))
      (let ((process (buffer-local-value 'qdb--process qdb--buffer)))
        (when (process-live-p process) (delete-process process))))))

(provide 'qdb-tests)
;;; qdb-tests.el ends here
