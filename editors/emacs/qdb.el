;;; qdb.el --- Debug remote programs with qdb  -*- lexical-binding: t; -*-

;; Copyright (C) 2026 The qdb authors

;; Author: The qdb authors
;; Version: 0.1.0
;; Package-Requires: ((emacs "27.1"))
;; Keywords: tools, processes
;; URL: https://github.com/qdb/qdb

;; This file is not part of GNU Emacs.

;; This program is free software: you can redistribute it and/or
;; modify it under the terms of the MIT license (see qdb's LICENSE).

;;; Commentary:

;; A client of a qdb session, the way gud is for pdb, but remote and
;; shared: you, a colleague in a terminal and an editor drive the same
;; program.
;;
;; M-x qdb-attach joins a session of a qdb server; M-x qdb-run debugs
;; a program on this machine (others can attach to it too).  Emacs runs
;; `qdb attach --json --terminal' (or `qdb run') as a subprocess and
;; reads one JSON message per line: TLS, tokens, reconnecting and the
;; terminal's command language are the qdb command's job.
;;
;; The interaction buffer is `qdb attach''s terminal client: the same
;; commands (pdb's), the same answers, with history (M-p, M-n) and
;; completion from the live frame.  The program's output appears there
;; as it comes.  At every stop the file opens at the current line with
;; the overlay arrow; a file that is not on this machine opens
;; read-only from the program's own text.  Breakpoints show in the
;; left margin of their buffers, whoever set them.
;;
;; Keys, under `qdb-key-prefix' (C-x C-a, as gud) in every buffer
;; while a session is live: C-b break at point, C-d clear at point,
;; C-t toggle, C-o condition, C-s step, C-n next, C-f return,
;; C-r continue, C-u until, C-j jump to the line at point, < up,
;; > down, C-z pause, C-p print the region or the expression at point,
;; w watch it, l the locals tree (TAB opens a value, by pages), e the
;; watches, t the threads.

;;; Code:

(require 'cl-lib)
(require 'comint)
(require 'seq)
(require 'subr-x)

(defgroup qdb nil
  "Debug remote programs with qdb."
  :group 'tools
  :prefix "qdb-")

(defcustom qdb-command '("qdb")
  "How to run qdb: a program and its first arguments.
For example (\"deno\" \"run\" \"-A\" \"/path/to/qdb/mod.ts\")."
  :type '(repeat string))

(defcustom qdb-default-server "ws://127.0.0.1:8002"
  "The server `qdb-attach' offers first."
  :type 'string)

(defcustom qdb-key-prefix (kbd "C-x C-a")
  "The prefix of qdb's keys in every buffer while a session is live."
  :type 'key-sequence)

(defface qdb-breakpoint-face
  '((t :inherit error :weight bold))
  "How a breakpoint's mark in the margin looks.")

(defface qdb-peer-face
  '((t :inherit font-lock-comment-face))
  "How what qdb itself says in the interaction buffer looks.")

(defvar qdb--buffer nil
  "The interaction buffer of the live session, or nil.")

(defvar-local qdb--debugging-ended nil
  "Set once the session's tracer stopped debugging.
The program's output is then shown as it comes.")

(defvar-local qdb--process nil
  "The `qdb attach --json' process of this interaction buffer.")
(defvar-local qdb--partial ""
  "What came from the process after its last newline.")
(defvar-local qdb--next-id 0
  "The last id given to a command of this session.")
(defvar-local qdb--callbacks nil
  "Replies awaited: a hash table from command id to function.")
(defvar-local qdb--stop nil
  "The current stop (the `stack' payload), or nil while the program runs.")
(defvar-local qdb--breakpoints nil
  "The session's breakpoints, as the last `breakpoints' event gave them.")
(defvar-local qdb--session-name nil
  "The session's id.")
(defvar-local qdb--watches nil
  "The watched expressions, as the last `watchlist' event gave them.")
(defvar-local qdb--at-prompt nil
  "Whether the last text shown is a prompt nobody has answered yet.")
(defvar-local qdb--sources nil
  "Files not on this machine: a table from the program's path to a buffer.")

(defvar qdb--source-path nil
  "In a buffer made from the program's text: its path there.")
(make-variable-buffer-local 'qdb--source-path)

;;;; The process and its messages

(defun qdb--live-buffer ()
  "The interaction buffer of the live session; an error when there is none."
  (if (and qdb--buffer (buffer-live-p qdb--buffer)
           (process-live-p (buffer-local-value 'qdb--process qdb--buffer)))
      qdb--buffer
    (user-error "No qdb session: start one with M-x qdb-attach")))

(defun qdb--send (event &optional payload callback)
  "Send EVENT with PAYLOAD to the session; call CALLBACK with its reply.
CALLBACK gets the reply message (an `ok' or an `error'), as a hash table."
  (with-current-buffer (qdb--live-buffer)
    (let* ((id (format "el%d" (setq qdb--next-id (1+ qdb--next-id))))
           (message (list :e event :id id)))
      (when payload (setq message (append message (list :p payload))))
      (when callback (puthash id callback qdb--callbacks))
      (process-send-string qdb--process
                           (concat (json-serialize message) "\n"))
      id)))

(defun qdb--filter (process text)
  "Take TEXT from PROCESS: one JSON message per line."
  (let ((buffer (process-buffer process)))
    (when (buffer-live-p buffer)
      (with-current-buffer buffer
        (let ((lines (split-string (concat qdb--partial text) "\n")))
          (setq qdb--partial (car (last lines)))
          (dolist (line (butlast lines))
            (unless (string-empty-p line)
              (let ((message (condition-case err
                                 (json-parse-string line :null-object nil
                                                    :false-object nil)
                               (error (qdb--say (format "qdb: bad line from qdb: %s (%S)"
                                                        line err))
                                      nil))))
                (when message
                  (condition-case err
                      (qdb--handle message)
                    (error (qdb--say (format "qdb: %s" (error-message-string err))))))))))))))

(defun qdb--sentinel (process _event)
  "Say that PROCESS ended, and forget its session.
A process of an earlier session of the same buffer changes nothing."
  (let ((buffer (process-buffer process)))
    (when (and (not (process-live-p process))
               (buffer-live-p buffer)
               (eq process (buffer-local-value 'qdb--process buffer)))
      (with-current-buffer buffer
        (qdb--say "qdb: detached from the session")
        (setq qdb--stop nil))
      (qdb--clear-arrow)
      (qdb--show-breakpoints nil)
      (when (eq buffer qdb--buffer)
        (qdb-minor-mode -1)))))

(defun qdb--insert (text)
  "Insert TEXT in the interaction buffer, as the program or qdb wrote it."
  (when (and (buffer-live-p qdb--buffer) (not (string-empty-p text)))
    (with-current-buffer qdb--buffer
      ;; Text after a prompt nobody answered starts on a line of its own.
      (when qdb--at-prompt
        (setq qdb--at-prompt nil)
        (setq text (concat "\n" text)))
      (if (process-live-p qdb--process)
          (comint-output-filter qdb--process text)
        ;; The session is over: no prompt to keep, no process mark to move.
        (let ((inhibit-read-only t))
          (save-excursion
            (goto-char (point-max))
            (insert text)))))))

(defun qdb--say (text)
  "Show TEXT in the interaction buffer as a line."
  (qdb--insert (if (string-suffix-p "\n" text) text (concat text "\n"))))

(defun qdb--get (table &rest keys)
  "The value in TABLE (nested hash tables and vectors) at KEYS."
  (let ((value table))
    (dolist (key keys value)
      (setq value (cond ((and (integerp key) (vectorp value))
                         (and (< key (length value)) (aref value key)))
                        ((hash-table-p value) (gethash key value))
                        (t nil))))))

(defun qdb--handle (message)
  "Act on one MESSAGE of the session (a hash table).
What the terminal client says (`say', `output', `prompt') is shown as it is;
the session's own events move the arrow, the marks and the side buffers."
  (let* ((event (gethash "e" message))
         (payload (gethash "p" message))
         (id (gethash "id" message))
         (callback (and id (gethash id qdb--callbacks))))
    (when (and callback (member event '("ok" "error" "snapshots" "snapshot")))
      (remhash id qdb--callbacks)
      (funcall callback message))
    (pcase event
      ("say" (qdb--say payload))
      ("output" (qdb--insert payload))
      ("prompt" (when payload (qdb--insert payload) (setq qdb--at-prompt t)))
      ("attached" (setq qdb--session-name (gethash "session" payload)))
      ("stack" (qdb--on-stack payload))
      ("watchlist"
       (setq qdb--watches payload)
       (qdb--render-watches payload))
      ("running" (setq qdb--stop nil) (qdb--render-stack nil))
      ;; A snapshot as it is taken (a reply to `snapshot' has an id, and its callback).
      ("snapshot" (unless id (qdb--render-snapshot payload)))
      ("breakpoints"
       (setq qdb--breakpoints payload)
       (qdb--show-breakpoints payload)
       (qdb--render-breakpoints payload))
      ("exited"
       (setq qdb--stop nil)
       (qdb--clear-arrow))
      ;; Debugging ended, and the program may run on (`qdb run' after a soft quit): its
      ;; output comes as the session's own `print' events, no terminal turns them into text.
      ("disabled" (setq qdb--debugging-ended t))
      ("print"
       (when (and qdb--debugging-ended
                  (member (gethash "input" payload) '("<stdout>" "<stderr>")))
         (qdb--insert (gethash "output" payload))))
      ("error"
       ;; What keeps the pipe from attaching, or a line it could not read.
       (when (member (gethash "type" payload) '("attach" "json"))
         (qdb--say (format "*** %s" (gethash "data" payload))))))))

;;;; Stops and the source arrow

(defun qdb--on-stack (stack)
  "Show the source at the selected frame of the stop STACK, and its values."
  (setq qdb--stop stack)
  (let* ((index (gethash "index" stack))
         (frame (qdb--get stack "stack" index)))
    (when frame
      (qdb--show-source (gethash "file" frame) (gethash "line" frame))))
  (qdb--refresh-locals stack)
  (qdb--render-stack stack)
  (when (get-buffer "*qdb threads*") (qdb-threads)))

(defun qdb--clear-arrow ()
  "Take the overlay arrow away."
  (when (markerp overlay-arrow-position)
    (set-marker overlay-arrow-position nil)))

(defun qdb--show-source (file line)
  "Show FILE at LINE with the overlay arrow.
A FILE that is not on this machine comes from the program's text."
  (if (file-readable-p file)
      (qdb--point-arrow (find-file-noselect file) line)
    (let ((known (gethash file qdb--sources)))
      (if (buffer-live-p known)
          (qdb--point-arrow known line)
        (qdb--send "source" (list :path file)
                   (qdb--on-ok
                    (lambda (result)
                      (qdb--point-arrow (qdb--source-buffer file (gethash "text" result))
                                        line))))))))

(defun qdb--source-buffer (path text)
  "A read-only buffer of TEXT, the program's file PATH."
  (let ((buffer (generate-new-buffer (format "*qdb: %s*" (file-name-nondirectory path)))))
    (with-current-buffer buffer
      (insert text)
      (goto-char (point-min))
      (when (and (string-suffix-p ".py" path) (fboundp 'python-mode))
        (delay-mode-hooks (python-mode)))
      (setq qdb--source-path path)
      (setq buffer-read-only t)
      (set-buffer-modified-p nil))
    (with-current-buffer (qdb--live-buffer)
      (puthash path buffer qdb--sources)
      (qdb--show-breakpoints qdb--breakpoints))
    buffer))

(defun qdb--point-arrow (buffer line)
  "Show BUFFER at LINE, with the overlay arrow there."
  (with-current-buffer buffer
    (save-restriction
      (widen)
      (goto-char (point-min))
      (forward-line (1- line))
      (unless (markerp overlay-arrow-position)
        (setq overlay-arrow-position (make-marker)))
      (set-marker overlay-arrow-position (point) buffer)))
  (let ((window (qdb--source-window buffer)))
    (when window
      (set-window-point window (marker-position overlay-arrow-position)))))

(defun qdb--side-buffer-p (buffer)
  "Whether BUFFER is one the source must not take the window of.
They are the interaction buffer and the locals, watches, threads, stack,
breakpoints and snapshots buffers."
  (or (eq buffer qdb--buffer)
      (string-match-p "\\`\\*qdb \\(locals\\|watches\\|threads\\|stack\\|breakpoints\\|snapshots\\)\\*\\'"
                      (buffer-name buffer))))

(defun qdb--source-window (buffer)
  "Show source BUFFER as gud does, and return its window.
It goes in the window showing source, never in the interaction buffer's or a
side buffer's."
  (or (get-buffer-window buffer)
      (let ((other (seq-find (lambda (w) (not (qdb--side-buffer-p (window-buffer w))))
                             (window-list nil 'no-minibuf))))
        (when other
          (set-window-buffer other buffer)
          other))
      ;; Every window shows the session: the largest one makes room for the source.
      (condition-case nil
          (let ((window (split-window (get-largest-window nil t) nil 'below)))
            (set-window-buffer window buffer)
            window)
        (error (display-buffer buffer '(nil (inhibit-same-window . t)))))))

;;;; Breakpoints in buffers

(defun qdb--buffer-path (&optional buffer)
  "Return the program's path of BUFFER's file (its own, or the one it is)."
  (with-current-buffer (or buffer (current-buffer))
    (or qdb--source-path
        (and buffer-file-name (file-truename buffer-file-name)))))

(defun qdb--buffer-of (path)
  "Return the buffer of the program's file PATH, if any."
  (or (and (buffer-live-p qdb--buffer)
           (let ((known (gethash path (buffer-local-value 'qdb--sources qdb--buffer))))
             (and (buffer-live-p known) known)))
      (find-buffer-visiting path)))

(defun qdb--show-breakpoints (breakpoints)
  "Mark BREAKPOINTS (a vector of tables, or nil) in their buffers' margin."
  (dolist (buffer (buffer-list))
    (with-current-buffer buffer
      (remove-overlays (point-min) (point-max) 'qdb-breakpoint t)))
  (seq-doseq (bp (or breakpoints []))
    (let ((file (gethash "file" bp))
          (line (gethash "line" bp)))
      (when-let ((buffer (and file line (qdb--buffer-of file))))
        (with-current-buffer buffer
          (save-restriction
            (widen)
            (save-excursion
              (goto-char (point-min))
              (forward-line (1- line))
              (let ((overlay (make-overlay (point) (point)))
                    (mark (if (eq (gethash "enabled" bp) nil) "b" "B")))
                (overlay-put overlay 'qdb-breakpoint t)
                (overlay-put overlay 'qdb-id (gethash "id" bp))
                (overlay-put overlay 'before-string
                             (propertize " " 'display
                                         `((margin left-margin)
                                           ,(propertize mark 'face 'qdb-breakpoint-face))))
                (when (< left-margin-width 1)
                  (setq left-margin-width 1)
                  (dolist (window (get-buffer-window-list buffer nil t))
                    (set-window-buffer window buffer)))))))))))

(defun qdb--breakpoints-at-point ()
  "The ids of the session's breakpoints on the line at point."
  (let ((path (qdb--buffer-path))
        (line (line-number-at-pos))
        ids)
    (seq-doseq (bp (or (buffer-local-value 'qdb--breakpoints (qdb--live-buffer)) []))
      (when (and (equal (gethash "file" bp) path) (equal (gethash "line" bp) line))
        (push (gethash "id" bp) ids)))
    ids))

(defun qdb--refresh-breakpoints ()
  "Mark the session's breakpoints in a buffer just opened."
  (when (and (buffer-live-p qdb--buffer) buffer-file-name)
    (qdb--show-breakpoints (buffer-local-value 'qdb--breakpoints qdb--buffer))))

;;;; Commands of source buffers

(defun qdb-break (&optional condition)
  "Set a breakpoint on the line at point, with CONDITION if given.
Interactively, a prefix argument asks for the condition."
  (interactive (list (and current-prefix-arg (read-string "Condition: "))))
  (let ((path (or (qdb--buffer-path) (user-error "This buffer has no file"))))
    (qdb--send "set_break" (append (list :file path :line (line-number-at-pos))
                                   (and condition (not (string-empty-p condition))
                                        (list :cond condition))))))

(defun qdb-snap (&optional condition)
  "Set a snapshot breakpoint on the line at point, with CONDITION if given.
When the line runs, the stack and values are taken and the program runs on;
they show in the buffer `*qdb snapshots*'.  Interactively, a prefix argument
asks for the condition."
  (interactive (list (and current-prefix-arg (read-string "Condition: "))))
  (let ((path (or (qdb--buffer-path) (user-error "This buffer has no file"))))
    (qdb--special-buffer "*qdb snapshots*" #'special-mode)
    (qdb--send "set_break" (append (list :file path :line (line-number-at-pos)
                                         :snapshot t)
                                   (and condition (not (string-empty-p condition))
                                        (list :cond condition))))))

(defun qdb-snapshots-buffer ()
  "The snapshots buffer, shown."
  (let ((buffer (qdb--special-buffer "*qdb snapshots*" #'special-mode)))
    (display-buffer buffer)
    buffer))

(defun qdb--render-snapshot (snapshot)
  "Add SNAPSHOT (a `snapshot' payload) to the snapshots buffer.
It shows the stack, then the locals of its frames, newest first."
  (with-current-buffer (qdb--special-buffer "*qdb snapshots*" #'special-mode)
    (let ((inhibit-read-only t)
          (stack (gethash "stack" snapshot)))
      (save-excursion
        (goto-char (point-max))
        (insert (format "Snapshot %s of %s, taken %s%s\n"
                        (gethash "id" snapshot) (gethash "session" snapshot)
                        (gethash "time" snapshot)
                        (if (gethash "truncated" snapshot) " (some values left out)" "")))
        (seq-doseq (frame stack)
          (insert (format "  %s:%s in %s\n" (gethash "file" frame) (gethash "line" frame)
                          (gethash "func" frame))))
        (seq-doseq (frame (reverse stack))
          (when-let ((locals (gethash "locals" frame)))
            (insert (format "Locals of %s:\n" (gethash "func" frame)))
            (maphash (lambda (name value) (insert (format "  %s = %s\n" name value))) locals)))
        (insert "\n")))))

(defun qdb-snapshots ()
  "Show the snapshots of the session, fetched again from the server."
  (interactive)
  (let ((buffer (qdb-snapshots-buffer)))
    (with-current-buffer buffer
      (let ((inhibit-read-only t)) (erase-buffer)))
    (qdb--send "snapshots" nil
               (lambda (reply)
                 (when (equal (gethash "e" reply) "snapshots")
                   (seq-doseq (summary (gethash "p" reply))
                     (qdb--send "snapshot" (list :id (gethash "id" summary))
                                (lambda (one)
                                  (when (equal (gethash "e" one) "snapshot")
                                    (qdb--render-snapshot (gethash "p" one)))))))))))

(defun qdb-remove ()
  "Clear the breakpoints on the line at point."
  (interactive)
  (let ((ids (qdb--breakpoints-at-point)))
    (unless ids (user-error "No breakpoint on this line"))
    (dolist (id ids) (qdb--send "clear_break" (list :id id)))))

(defun qdb-toggle-break ()
  "Clear the breakpoints on the line at point, or set one there."
  (interactive)
  (if (qdb--breakpoints-at-point) (qdb-remove) (qdb-break)))

(defun qdb-condition (condition)
  "Make CONDITION the condition of the breakpoint at point (empty: none)."
  (interactive "sCondition (empty: none): ")
  (let ((ids (qdb--breakpoints-at-point)))
    (unless ids (user-error "No breakpoint on this line"))
    (dolist (id ids)
      (qdb--send "update_break" (list :id id :cond (if (string-empty-p condition)
                                                        :null
                                                      condition))))))

(defun qdb--expression-at-point ()
  "The region's text, or the dotted name at point."
  (if (use-region-p)
      (buffer-substring-no-properties (region-beginning) (region-end))
    (save-excursion
      (let ((end (progn (skip-chars-forward "A-Za-z0-9_") (point)))
            (start (progn (skip-chars-backward "A-Za-z0-9_.") (point))))
        (when (= start end) (user-error "No expression at point"))
        (buffer-substring-no-properties start end)))))

(defun qdb-print (expression)
  "Show the value of EXPRESSION in the selected frame.
Interactively, the region, or the dotted name at point."
  (interactive (list (qdb--expression-at-point)))
  (qdb--say (concat "p " expression))
  (qdb--line (concat "p " expression)))

(defun qdb--line (line)
  "Send LINE to the terminal client of the session, as if typed at `qdb attach'."
  (qdb--send "line" line))

(defmacro qdb--define-command (name event doc &optional payload)
  "Define the command NAME that sends EVENT (with PAYLOAD), documented by DOC."
  `(defun ,name ()
     ,doc
     (interactive)
     (qdb--send ,event ,payload)))

(qdb--define-command qdb-step "step" "Run to the next line, entering calls.")
(qdb--define-command qdb-next "next" "Run to the next line of this frame.")
(qdb--define-command qdb-return "return" "Run until the selected frame returns.")
(qdb--define-command qdb-continue "continue" "Run until a breakpoint or the end.")
(qdb--define-command qdb-up "up" "Select the frame that called this one.")
(qdb--define-command qdb-down "down" "Select the frame this one called.")
(qdb--define-command qdb-pause "pause" "Stop the running program where it is.")

(defun qdb-until ()
  "Run until a line after this one in this frame.
In the stopped frame's file, until the line at point."
  (interactive)
  (let ((path (qdb--buffer-path)))
    (if (and path (buffer-live-p qdb--buffer)
             (let* ((stop (buffer-local-value 'qdb--stop qdb--buffer))
                    (frame (and stop (qdb--get stop "stack" (gethash "index" stop)))))
               (and frame (equal (gethash "file" frame) path))))
        (qdb--send "until" (line-number-at-pos))
      (qdb--send "until"))))

(defun qdb-jump ()
  "Make the line at point the next to run in the stopped frame, as `gud-jump'.
The lines between do not run.  Only in the newest frame, and its file."
  (interactive)
  (let* ((path (or (qdb--buffer-path) (user-error "This buffer has no file")))
         (stop (and (buffer-live-p qdb--buffer) (buffer-local-value 'qdb--stop qdb--buffer)))
         (frames (and stop (gethash "stack" stop)))
         (newest (and frames (> (length frames) 0) (aref frames (1- (length frames))))))
    (unless newest (user-error "The program is not stopped"))
    (unless (equal (gethash "file" newest) path)
      (user-error "Jumps stay in the newest frame's file, %s" (gethash "file" newest)))
    (qdb--send "jump" (list :line (line-number-at-pos)))))

(defvar qdb-command-map
  (let ((map (make-sparse-keymap)))
    (define-key map (kbd "C-b") #'qdb-break)
    (define-key map (kbd "C-d") #'qdb-remove)
    (define-key map (kbd "C-t") #'qdb-toggle-break)
    (define-key map (kbd "C-o") #'qdb-condition)
    (define-key map (kbd "C-s") #'qdb-step)
    (define-key map (kbd "C-n") #'qdb-next)
    (define-key map (kbd "C-f") #'qdb-return)
    (define-key map (kbd "C-r") #'qdb-continue)
    (define-key map (kbd "C-u") #'qdb-until)
    (define-key map (kbd "C-j") #'qdb-jump)
    (define-key map (kbd "<") #'qdb-up)
    (define-key map (kbd ">") #'qdb-down)
    (define-key map (kbd "C-z") #'qdb-pause)
    (define-key map (kbd "C-p") #'qdb-print)
    (define-key map (kbd "w") #'qdb-watch)
    (define-key map (kbd "l") #'qdb-locals)
    (define-key map (kbd "e") #'qdb-watches)
    (define-key map (kbd "t") #'qdb-threads)
    (define-key map (kbd "C-v") #'qdb-snap)
    (define-key map (kbd "m") #'qdb-many-windows)
    (define-key map (kbd "v") #'qdb-snapshots)
    map)
  "The keys of qdb's commands, under `qdb-key-prefix'.")

(defvar qdb-minor-mode-map
  (let ((map (make-sparse-keymap)))
    (define-key map qdb-key-prefix qdb-command-map)
    map)
  "The keymap of `qdb-minor-mode'.")

(define-minor-mode qdb-minor-mode
  "Give every buffer qdb's keys while a session is live.
The keys are `qdb-command-map', under `qdb-key-prefix'."
  :global t
  :lighter " qdb"
  (if qdb-minor-mode
      (add-hook 'find-file-hook #'qdb--refresh-breakpoints)
    (remove-hook 'find-file-hook #'qdb--refresh-breakpoints)))

;;;; The interaction buffer: pdb's commands

(defun qdb--input-sender (_process input)
  "Send INPUT, a line typed in the interaction buffer, to the terminal client.
It takes `qdb attach''s commands (pdb's); an empty line repeats the last."
  (with-current-buffer qdb--buffer (setq qdb--at-prompt nil))
  (qdb--line input))

(defun qdb-interrupt ()
  "Pause the running program, as Ctrl-C does in `qdb attach'."
  (interactive)
  (qdb--send "interrupt"))

(defvar qdb-mode-map
  (let ((map (make-sparse-keymap)))
    (set-keymap-parent map comint-mode-map)
    (define-key map (kbd "C-c C-c") #'qdb-interrupt)
    ;; Emacs 28's comint leaves TAB to `indent-for-tab-command': here it completes.
    (define-key map (kbd "TAB") #'completion-at-point)
    map)
  "Keys of the interaction buffer: comint's, and `qdb-interrupt'.")

(defun qdb--completion-at-point ()
  "Complete a name from the live frame (protocol 2's `completions')."
  (when (and qdb--stop (comint-after-pmark-p))
    (let* ((end (point))
           (start (save-excursion (skip-chars-backward "A-Za-z0-9_.") (point)))
           (text (buffer-substring-no-properties start end))
           (matches nil)
           (done nil))
      (qdb--send "completions" (list :text text)
                 (lambda (reply)
                   (setq matches (append (qdb--get reply "p" "matches") nil)
                         done t)))
      (with-timeout (2 nil)
        (while (not done) (accept-process-output qdb--process 0.05)))
      (when matches
        (let ((prefix (substring text 0 (or (string-match "[^.]*\\'" text) 0))))
          (list start end (mapcar (lambda (m) (concat prefix m)) matches)))))))

(define-derived-mode qdb-mode comint-mode "qdb"
  "The interaction buffer of a qdb session: pdb's commands, the output.
\\{qdb-mode-map}"
  (setq comint-prompt-regexp "^(qdb) ")
  (setq comint-input-sender #'qdb--input-sender)
  (setq comint-prompt-read-only t)
  (setq-local comint-input-ignoredups t)
  (add-hook 'completion-at-point-functions #'qdb--completion-at-point nil t)
  (setq qdb--callbacks (make-hash-table :test #'equal))
  (setq qdb--sources (make-hash-table :test #'equal)))

;;;; The locals tree, the watches and the threads

(defcustom qdb-page-size 100
  "How many children of a value the locals tree shows at a time."
  :type 'integer)

(cl-defstruct (qdb--node (:constructor qdb--node-create))
  "A value in the locals tree: what `variables' says of it, and what was opened."
  name value type (ref 0) (named 0) (indexed 0) expanded children (loaded 0))

(defvar-local qdb--roots nil
  "In the locals buffer: the selected frame's variables (a list of nodes).")

(defun qdb--node-of (variable)
  "A tree node made of VARIABLE, a table from `variables'."
  (qdb--node-create :name (gethash "name" variable) :value (gethash "value" variable)
                    :type (gethash "type" variable) :ref (gethash "ref" variable)
                    :named (gethash "named" variable)
                    :indexed (gethash "indexed" variable)))

(defun qdb--special-buffer (name mode)
  "The buffer NAME, made in MODE when missing."
  (or (get-buffer name)
      (with-current-buffer (get-buffer-create name)
        (funcall mode)
        (current-buffer))))

(defun qdb--refresh-locals (stack)
  "Show the locals of the selected frame of STACK in the locals buffer, when shown."
  (when-let ((buffer (get-buffer "*qdb locals*")))
    (let ((frame (qdb--get stack "stack" (gethash "index" stack))))
      (when (and frame (gethash "id" frame))
        (qdb--send
         "scopes" (list :frame (gethash "id" frame))
         (qdb--on-ok
          (lambda (scopes)
            (when-let ((scope (qdb--get scopes "scopes" 0)))
              (qdb--send
               "variables" (list :ref (gethash "ref" scope) :count qdb-page-size)
               (qdb--on-ok
                (lambda (result)
                  (with-current-buffer buffer
                    (setq qdb--roots (mapcar #'qdb--node-of
                                             (gethash "variables" result)))
                    (qdb--render-locals)))))))))))))

(defun qdb--on-ok (function)
  "A reply callback: FUNCTION of an `ok' reply's payload.
An `error' reply is shown by the terminal client, as any error."
  (lambda (reply)
    (when (equal (gethash "e" reply) "ok")
      (funcall function (gethash "p" reply)))))

(defun qdb--render-locals ()
  "Draw the locals tree again, keeping point's line."
  (let ((line (line-number-at-pos))
        (inhibit-read-only t))
    (erase-buffer)
    (dolist (node qdb--roots) (qdb--render-node node 0))
    (goto-char (point-min))
    (forward-line (1- line))))

(defun qdb--render-node (node depth)
  "Insert NODE at DEPTH, and its children when it is open."
  (let ((start (point))
        (more (+ (qdb--node-named node) (qdb--node-indexed node))))
    (insert (make-string (* 2 depth) ?\s)
            (cond ((<= (qdb--node-ref node) 0) "  ")
                  ((qdb--node-expanded node) "- ")
                  (t "+ "))
            (propertize (format "%s" (qdb--node-name node)) 'face 'font-lock-variable-name-face)
            (format ": %s = %s\n" (qdb--node-type node) (qdb--node-value node)))
    (put-text-property start (point) 'qdb-node node)
    (when (qdb--node-expanded node)
      (dolist (child (qdb--node-children node)) (qdb--render-node child (1+ depth)))
      (when (< (qdb--node-loaded node) more)
        (let ((start (point)))
          (insert (make-string (* 2 (1+ depth)) ?\s)
                  (format "... %d more (TAB)\n" (- more (qdb--node-loaded node))))
          (put-text-property start (point) 'qdb-more node))))))

(defun qdb--load-children (node)
  "Fetch the next page of NODE's children, then draw the tree again."
  (let ((buffer (current-buffer)))
    (qdb--send "variables" (list :ref (qdb--node-ref node) :start (qdb--node-loaded node)
                                 :count qdb-page-size)
               (qdb--on-ok
                (lambda (result)
                   (let ((children (mapcar #'qdb--node-of (gethash "variables" result))))
                     (setf (qdb--node-children node) (append (qdb--node-children node) children)
                           (qdb--node-loaded node) (+ (qdb--node-loaded node)
                                                      (length children))
                           (qdb--node-expanded node) t)
                     (with-current-buffer buffer (qdb--render-locals))))))))

(defun qdb-locals-toggle ()
  "Open or close the value on this line; on a \"more\" line, show the next page."
  (interactive)
  (let ((more (get-text-property (point) 'qdb-more))
        (node (get-text-property (point) 'qdb-node)))
    (cond (more (qdb--load-children more))
          ((or (null node) (<= (qdb--node-ref node) 0)) (message "Nothing to open here"))
          ((qdb--node-expanded node)
           (setf (qdb--node-expanded node) nil)
           (qdb--render-locals))
          ((qdb--node-children node)
           (setf (qdb--node-expanded node) t)
           (qdb--render-locals))
          (t (qdb--load-children node)))))

(defvar qdb-locals-mode-map
  (let ((map (make-sparse-keymap)))
    (define-key map (kbd "TAB") #'qdb-locals-toggle)
    (define-key map (kbd "RET") #'qdb-locals-toggle)
    map)
  "Keys of the locals buffer.")

(define-derived-mode qdb-locals-mode special-mode "qdb-locals"
  "The selected frame's variables, as a tree: TAB opens a value (by pages).
\\{qdb-locals-mode-map}"
  (setq truncate-lines t))

(defun qdb-locals ()
  "Show the selected frame's variables as a tree."
  (interactive)
  (let ((buffer (qdb--special-buffer "*qdb locals*" #'qdb-locals-mode)))
    (with-current-buffer (qdb--live-buffer)
      (when qdb--stop (qdb--refresh-locals qdb--stop)))
    (display-buffer buffer)
    buffer))

(defun qdb--render-watches (watches)
  "Show WATCHES (the `watchlist' payload) in the watch buffer, when shown."
  (when-let ((buffer (get-buffer "*qdb watches*")))
    (with-current-buffer buffer
      (let ((inhibit-read-only t))
        (erase-buffer)
        (seq-doseq (watch watches)
          (let ((start (point)))
            (insert (format "%s = %s%s\n" (gethash "expr" watch) (gethash "value" watch)
                            (if (gethash "exc" watch) "  (raised)" "")))
            (put-text-property start (point) 'qdb-watch (gethash "expr" watch))))))))

(defun qdb-watch (expression)
  "Watch EXPRESSION: its value is shown at every stop in the watch buffer."
  (interactive (list (read-string "Watch: " (ignore-errors (qdb--expression-at-point)))))
  (qdb-watches)
  (qdb--send "set_watch" (vector expression)))

(defun qdb-unwatch (expression)
  "Stop watching EXPRESSION (the one on this line in the watch buffer)."
  (interactive (list (or (get-text-property (point) 'qdb-watch)
                         (read-string "Stop watching: "))))
  (qdb--send "clear_watch" (vector expression)))

(defvar qdb-watches-mode-map
  (let ((map (make-sparse-keymap)))
    (define-key map (kbd "a") #'qdb-watch)
    (define-key map (kbd "d") #'qdb-unwatch)
    map)
  "Keys of the watch buffer.")

(define-derived-mode qdb-watches-mode special-mode "qdb-watches"
  "The watched expressions, evaluated again at every stop.
\\{qdb-watches-mode-map}")

(defun qdb-watches ()
  "Show the watched expressions."
  (interactive)
  (let ((buffer (qdb--special-buffer "*qdb watches*" #'qdb-watches-mode)))
    (qdb--render-watches (buffer-local-value 'qdb--watches (qdb--live-buffer)))
    (display-buffer buffer)
    buffer))

(defun qdb-threads ()
  "Show the program's threads; RET on a stopped one to select it."
  (interactive)
  (let ((buffer (qdb--special-buffer "*qdb threads*" #'qdb-threads-mode)))
    (qdb--send "threads" nil
               (lambda (reply)
                 (with-current-buffer buffer
                   (let ((inhibit-read-only t))
                     (erase-buffer)
                     (seq-doseq (thread (qdb--get reply "p" "threads"))
                       (let ((start (point)))
                         (insert (format "%s  %s  %s\n" (gethash "id" thread)
                                         (gethash "name" thread) (gethash "state" thread)))
                         (put-text-property start (point) 'qdb-thread (gethash "id" thread))))))))
    (display-buffer buffer)
    buffer))

(defun qdb-threads-select ()
  "Select the thread on this line, for the stack, the values and stepping."
  (interactive)
  (let ((thread (or (get-text-property (point) 'qdb-thread) (user-error "No thread here"))))
    (qdb--send "frame" (list :thread thread))))

(defvar qdb-threads-mode-map
  (let ((map (make-sparse-keymap)))
    (define-key map (kbd "RET") #'qdb-threads-select)
    map)
  "Keys of the threads buffer.")

(define-derived-mode qdb-threads-mode special-mode "qdb-threads"
  "The program's threads.
\\{qdb-threads-mode-map}")

;;;; Attaching

(defun qdb--run-json (args &optional token)
  "The JSON document that `qdb ARGS' prints, with TOKEN in its environment."
  (let ((process-environment (if token (cons (concat "QDB_TOKEN=" token) process-environment)
                               process-environment)))
    (with-temp-buffer
      (apply #'call-process (car qdb-command) nil (list t nil) nil
             (append (cdr qdb-command) args))
      (json-parse-string (buffer-string) :null-object nil :false-object nil))))

(defun qdb--live-sessions (server token)
  "The ids of the live sessions on SERVER (with TOKEN); nil when it cannot say."
  (condition-case nil
      (let ((answer (qdb--run-json (list "sessions" "--json" "--server" server) token)))
        (delq nil (mapcar (lambda (s) (and (gethash "tracer" s) (gethash "id" s)))
                          (gethash "sessions" answer))))
    (error nil)))

;;;###autoload
(defun qdb-attach (server token session)
  "Attach to SESSION of the qdb server SERVER, with TOKEN (nil: none).
Interactively, SESSION is chosen among the live ones."
  (interactive
   (let* ((server (read-string "qdb server: " qdb-default-server))
          (token (let ((text (read-passwd "Token (empty: none): ")))
                   (and (not (string-empty-p text)) text)))
          (live (qdb--live-sessions server token))
          (session (completing-read "Session: " live nil nil
                                    (and (= (length live) 1) (car live)))))
     (list server token (and (not (string-empty-p session)) session))))
  (qdb--start (format "*qdb %s*" (or session server))
              (append (list "attach" "--json" "--terminal" "--server" server)
                      (and session (list session)))
              token))

(defcustom qdb-python nil
  "The Python that `qdb-run' runs programs with (nil: python3)."
  :type '(choice (const :tag "python3" nil) string))

;;;###autoload
(defun qdb-run (program &rest args)
  "Debug PROGRAM with ARGS on this machine, as `qdb run' does.
Others can attach to the session: the buffer \" *qdb stderr*\" says how."
  (interactive
   (let* ((program (read-file-name "Program: " nil nil t
                                   (and buffer-file-name
                                        (file-name-nondirectory buffer-file-name))))
          (args (split-string-and-unquote (read-string "Arguments: "))))
     (cons (expand-file-name program) args)))
  (qdb--start (format "*qdb %s*" (file-name-nondirectory program))
              (append (list "run" "--json" "--terminal")
                      (and qdb-python (list "--python" qdb-python))
                      (list (expand-file-name program))
                      args)
              nil))

(defun qdb--start (name args token)
  "Start `qdb ARGS' (with TOKEN) as the session of the interaction buffer NAME."
  (when (and qdb--buffer (buffer-live-p qdb--buffer)
             (process-live-p (buffer-local-value 'qdb--process qdb--buffer)))
    (user-error "Already in a qdb session: leave it first (M-x qdb-detach)"))
  (let* ((buffer (get-buffer-create name))
         (process-environment (if token (cons (concat "QDB_TOKEN=" token) process-environment)
                                process-environment))
         (process (make-process
                   :name "qdb"
                   :buffer buffer
                   :command (append qdb-command args)
                   :connection-type 'pipe
                   :noquery t
                   :stderr (get-buffer-create " *qdb stderr*"))))
    (with-current-buffer buffer
      (qdb-mode)
      (setq qdb--process process)
      (setq qdb--partial "")
      (set-marker (process-mark process) (point-max)))
    (set-process-filter process #'qdb--filter)
    (set-process-sentinel process #'qdb--sentinel)
    (setq qdb--buffer buffer)
    (qdb-minor-mode 1)
    (pop-to-buffer buffer)
    buffer))

(defun qdb-detach ()
  "Leave the session as it is, stopped or running, for a later attach."
  (interactive)
  (when (and qdb--buffer (buffer-live-p qdb--buffer))
    (let ((process (buffer-local-value 'qdb--process qdb--buffer)))
      (when (process-live-p process)
        (process-send-eof process)))))

(defun qdb--render-stack (stack)
  "Show STACK (a `stack' payload) in the stack buffer, when there is one."
  (when-let ((buffer (get-buffer "*qdb stack*")))
    (with-current-buffer buffer
      (let ((inhibit-read-only t)
            (index (and stack (gethash "index" stack))))
        (erase-buffer)
        (if (not stack)
            (insert "(running)\n")
          (seq-doseq (frame (reverse (gethash "stack" stack)))
            (let ((i (seq-position (gethash "stack" stack) frame)))
              (insert (format "%s %s:%s in %s\n" (if (eql i index) ">" " ")
                              (gethash "file" frame) (gethash "line" frame)
                              (gethash "func" frame))))))))))

(defun qdb--render-breakpoints (breakpoints)
  "Show BREAKPOINTS in the breakpoints buffer, when there is one."
  (when-let ((buffer (get-buffer "*qdb breakpoints*")))
    (with-current-buffer buffer
      (let ((inhibit-read-only t))
        (erase-buffer)
        (if (seq-empty-p (or breakpoints []))
            (insert "No breakpoints\n")
          (seq-doseq (bp breakpoints)
            (insert (format "%s %s:%s%s%s\n" (gethash "id" bp) (gethash "file" bp)
                            (gethash "line" bp)
                            (if (gethash "cond" bp) (format "  if %s" (gethash "cond" bp)) "")
                            (if (eq (gethash "enabled" bp) :false) "  (disabled)" "")))))))))

(defun qdb-many-windows ()
  "Lay the frame out as gud's many windows do.
The interaction buffer and the locals are above; the source and the stack in
the middle; the breakpoints and the watches below."
  (interactive)
  (let* ((interaction (qdb--live-buffer))
         (stop (buffer-local-value 'qdb--stop interaction))
         (frame (and stop (qdb--get stop "stack" (gethash "index" stop))))
         (stack (qdb--special-buffer "*qdb stack*" #'special-mode))
         (breakpoints (qdb--special-buffer "*qdb breakpoints*" #'special-mode))
         (locals (qdb--special-buffer "*qdb locals*" #'qdb-locals-mode))
         (watches (qdb--special-buffer "*qdb watches*" #'qdb-watches-mode)))
    (delete-other-windows)
    (let* ((top (selected-window))
           (middle (split-window top nil 'below))
           (bottom (split-window middle nil 'below)))
      (set-window-buffer top interaction)
      (set-window-buffer (split-window top nil 'right) locals)
      (set-window-buffer (split-window middle nil 'right) stack)
      (set-window-buffer (split-window bottom nil 'right) watches)
      (set-window-buffer bottom breakpoints)
      (set-window-buffer middle (if frame
                                    (or (qdb--buffer-of (gethash "file" frame))
                                        (window-buffer middle))
                                  (window-buffer middle)))
      (select-window top))
    (with-current-buffer interaction
      (qdb--render-stack stop)
      (qdb--render-breakpoints qdb--breakpoints)
      (qdb--render-watches qdb--watches)
      (when stop (qdb--refresh-locals stop)))))

(defun qdb-quit (&optional hard)
  "End debugging: let the program run on without qdb, or end it if HARD.
Interactively, a prefix argument is HARD."
  (interactive "P")
  (qdb--send "disable" (if hard "hard" "soft")))

(provide 'qdb)
;;; qdb.el ends here
