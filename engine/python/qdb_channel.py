"""The bridge's channel to the tracer: one Unix socket, framed as the tracer link
(protocol/framing.ts): a 4-byte big-endian length, then UTF-8 JSON ``{"e", "p", "id"}``.

A Channel owns the socket, the lock every event is sent under (the output forwarder drains the
program's pipes under it, so that output printed before a stop goes before that stop), whether
the channel still works, and the bytes read before the reader loop started.
"""

import json
import socket
import struct
import threading
import time

from qdb_common import _MISSING


class Channel(object):
    """Sends events and reads commands; never raises for a channel that went away."""

    def __init__(self):
        self.sock = None
        self.lock = threading.RLock()
        self.ok = False
        self.early = b""  # bytes read before the reader loop started

    def connect(self, path):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(path)
        self.sock = sock
        self.ok = True

    def send(self, e, p=_MISSING, id_=None):
        """Sends one event; False when the channel is gone (detaching is the reader's job)."""
        msg = {"e": e}
        if p is not _MISSING:
            msg["p"] = p
        if id_ is not None:
            msg["id"] = id_
        try:
            body = json.dumps(msg, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        except UnicodeEncodeError:
            # Lone surrogates (from surrogateescape text) cannot be UTF-8: escape them instead.
            body = json.dumps(msg, separators=(",", ":")).encode("ascii")
        with self.lock:
            if not self.ok:
                return False
            try:
                self.sock.sendall(struct.pack(">I", len(body)) + body)
                return True
            except OSError:
                self.ok = False
                return False

    def error(self, type_, data, command=None, id_=None):
        p = {"type": type_, "data": data}
        if command:
            p["command"] = command
        self.send("error", p, id_)

    def await_first_frame(self, timeout):
        """Reads until one whole frame arrived (or `timeout` seconds passed); what was read is
        kept for the reader loop, which handles it first."""
        sock = self.sock
        buf = b""
        deadline = time.monotonic() + timeout
        try:
            while len(buf) < 4 or len(buf) < 4 + struct.unpack(">I", buf[:4])[0]:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                sock.settimeout(left)
                chunk = sock.recv(65536)
                if not chunk:
                    break
                buf += chunk
        except OSError:
            pass
        finally:
            try:
                sock.settimeout(None)
            except OSError:
                pass
        self.early = buf

    def read_frames(self, on_frame, done):
        """Calls `on_frame(body)` for every frame until the socket ends or `done()` is true
        after a frame. Frames read early (see await_first_frame) come first: nothing may
        overtake them."""
        buf, self.early = self.early, b""
        sock = self.sock
        while True:
            while len(buf) >= 4:
                (size,) = struct.unpack(">I", buf[:4])
                if len(buf) < 4 + size:
                    break
                body, buf = buf[4:4 + size], buf[4 + size:]
                on_frame(body)
            if done():
                return
            try:
                chunk = sock.recv(262144)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk

    def close(self):
        """Ends the channel (idempotent): nothing is sent after it."""
        with self.lock:
            self.ok = False
            sock, self.sock = self.sock, None
            if sock is None:
                return
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                sock.close()
            except OSError:
                pass

    def forget(self):
        """A forked child's copy: closed without shutting the parent's connection down."""
        self.ok = False
        sock, self.sock = self.sock, None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass
