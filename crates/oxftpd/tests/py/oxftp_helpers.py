"""Shared helpers for the ftplib end-to-end tests.

The Rust runner (tests/common/python.rs) starts a real oxftpd and passes its
coordinates in the environment:

  OXFTP_PORT      control port on 127.0.0.1
  OXFTP_ROOT      the storage root on disk (homes: alice/, guest/, pub/)
  OXFTP_PASSWORD  the password of alice, gina (guest) and ro (read-only)

`Raw` is a byte-level control connection for tests that must see exact
reply codes or send malformed lines; ftplib is used where a real client's
behaviour is the point.
"""

import ftplib
import os
import re
import socket
import time

HOST = "127.0.0.1"
PORT = int(os.environ["OXFTP_PORT"])
ROOT = os.environ["OXFTP_ROOT"]
PASSWORD = os.environ["OXFTP_PASSWORD"]
TIMEOUT = 20


def disk(*parts):
    """Path on disk under the storage root."""
    return os.path.join(ROOT, *parts)


def write_file(path, data):
    """Writes bytes to a path on disk, creating parent directories."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def pattern(n, seed=1):
    """Deterministic, non-repeating-looking bytes."""
    out = bytearray()
    x = seed * 2654435761 % (2**32) or 1
    while len(out) < n:
        x = (x * 1103515245 + 12345) % (2**31)
        out += x.to_bytes(4, "little")
    return bytes(out[:n])


def ftp_login(user="alice", password=None):
    """An ftplib session logged in as `user`."""
    f = ftplib.FTP()
    f.connect(HOST, PORT, timeout=TIMEOUT)
    f.login(user, PASSWORD if password is None else password)
    return f


class Reply:
    """One (possibly multi-line) reply: code and raw lines without CRLF."""

    def __init__(self, code, lines):
        self.code = code
        self.lines = lines

    @property
    def text(self):
        return b"\n".join(self.lines).decode("utf-8", "replace")

    def __repr__(self):
        return "Reply(%d, %r)" % (self.code, self.lines)


class Raw:
    """A raw control connection that parses replies per RFC 959 4.2."""

    def __init__(self, source=None):
        self.sock = socket.create_connection((HOST, PORT), timeout=TIMEOUT, source_address=source)
        self.buf = b""
        self.greeting = self.reply()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the control connection; pending %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        if not line.endswith(b"\r"):
            raise AssertionError("reply line not terminated by CRLF: %r" % line)
        return line[:-1]

    def reply(self):
        first = self.line()
        if len(first) < 4 or not first[:3].isdigit() or first[3:4] not in (b" ", b"-"):
            raise AssertionError("malformed reply line %r" % first)
        code = int(first[:3])
        lines = [first]
        if first[3:4] == b"-":
            end = first[:3] + b" "
            while True:
                line = self.line()
                lines.append(line)
                if line.startswith(end):
                    break
        return Reply(code, lines)

    def cmd(self, line):
        """Sends one command (str or bytes) with CRLF and returns the reply."""
        if isinstance(line, str):
            line = line.encode("utf-8")
        self.send(line + b"\r\n")
        return self.reply()

    def login(self, user="alice", password=None):
        r = self.cmd("USER " + user)
        assert r.code == 331, r
        r = self.cmd("PASS " + (PASSWORD if password is None else password))
        assert r.code == 230, r
        return r

    def pasv(self):
        """PASV; returns the (host, port) the server advertised."""
        r = self.cmd("PASV")
        assert r.code == 227, r
        m = re.search(rb"(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)", r.lines[0])
        assert m, r
        nums = [int(x) for x in m.groups()]
        return "%d.%d.%d.%d" % tuple(nums[:4]), nums[4] * 256 + nums[5]

    def epsv(self):
        r = self.cmd("EPSV")
        assert r.code == 229, r
        m = re.search(rb"\(\|\|\|(\d+)\|\)", r.lines[0])
        assert m, r
        return int(m.group(1))

    def data_connection(self, source=None):
        """PASV and connect, optionally from a chosen local address."""
        host, port = self.pasv()
        return socket.create_connection((host, port), timeout=TIMEOUT, source_address=source)

    def transfer_in(self, command, source=None):
        """Runs a download-type command over passive mode.

        Returns (preliminary reply, data bytes, final reply); when the
        command is refused outright the refusal is both first and final."""
        data = self.data_connection(source)
        first = self.cmd(command)
        if first.code >= 200:
            data.close()
            return first, b"", first
        got = recv_all(data)
        return first, got, self.reply()

    def transfer_out(self, command, payload):
        """Runs an upload-type command over passive mode.

        Returns (preliminary reply, final reply); when the command is
        refused outright the refusal is both first and final."""
        data = self.data_connection()
        first = self.cmd(command)
        if first.code >= 200:
            data.close()
            return first, first
        data.sendall(payload)
        data.close()
        return first, self.reply()


def recv_all(sock, limit=None):
    """Reads a socket to EOF (or until `limit` bytes)."""
    chunks = []
    total = 0
    while limit is None or total < limit:
        try:
            chunk = sock.recv(1 << 20)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    sock.close()
    return b"".join(chunks)


def names_of(listing):
    """NLST data (bytes) to a sorted list of names."""
    return sorted(n for n in listing.split(b"\r\n") if n)


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()
