"""FTPS (RFC 4217) with Python's ftplib.FTP_TLS and raw TLS sockets.

Each class expects a daemon with a particular [tls] policy; the Rust runner
(tests/e2e_ftps.rs) starts one per class and names the class to run:

  ReuseTest        defaults: control/data optional, require_session_reuse = true
  RepeatTest       the same, many transfers in one session
  NoReuseTest      require_session_reuse = false
  AllTest          control = "all", data = "all"
  AccountsTest     control = "accounts", data = "accounts"
  ImplicitTest     an implicit FTPS listener (OXFTP_IMPLICIT_PORT)

OXFTP_CA is the CA certificate that signed the server's certificate. Setting
OXFTP_TLS_MAX=1.2 caps the client at TLS 1.2 (to compare session reuse under
both versions).
"""

import ftplib
import io
import os
import socket
import ssl
import unittest

from oxftp_helpers import HOST, PASSWORD, PORT, TIMEOUT, Raw, disk, pattern, read_file, recv_all, write_file

CA = os.environ.get("OXFTP_CA", "")


def context():
    """A client context that verifies the server against the test CA."""
    ctx = ssl.create_default_context(cafile=CA)
    if os.environ.get("OXFTP_TLS_MAX") == "1.2":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    return ctx


class ReusingFTP_TLS(ftplib.FTP_TLS):
    """FTP_TLS that resumes the control connection's TLS session on every
    data connection, as servers requiring session reuse (vsftpd's
    require_ssl_reuse, ours by default) demand. Stock FTP_TLS does a full
    handshake on each data connection."""

    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=self.sock.session)
        return conn, size


def tls_login(cls=ReusingFTP_TLS, user="alice", prot_p=True):
    f = cls(context=context(), timeout=TIMEOUT)
    f.connect(HOST, PORT)
    f.auth()
    f.login(user, PASSWORD)
    if prot_p:
        f.prot_p()
    return f


def retr(f, name):
    chunks = []
    f.retrbinary("RETR " + name, chunks.append)
    return b"".join(chunks)


def stor(f, name, data):
    f.storbinary("STOR " + name, io.BytesIO(data))


def reply_code(exc):
    return int(str(exc)[:3])


class TlsRaw(Raw):
    """A raw control connection that can switch to TLS with AUTH TLS."""

    def auth_tls(self):
        r = self.cmd("AUTH TLS")
        assert r.code == 234, r
        assert not self.buf, "data after 234: %r" % self.buf
        self.sock = context().wrap_socket(self.sock, server_hostname=HOST)
        return r


class ReuseTest(unittest.TestCase):
    """Session reuse required (the default), TLS optional."""

    def setUp(self):
        self.data = pattern(300_000, 7)
        write_file(disk("alice", "f.bin"), self.data)

    def test_stock_ftp_tls_transfer_is_refused_with_522(self):
        f = tls_login(ftplib.FTP_TLS)
        try:
            with self.assertRaises((ftplib.error_perm, ssl.SSLError, OSError)) as caught:
                retr(f, "f.bin")
            exc = caught.exception
            if isinstance(exc, ftplib.error_perm):
                code = reply_code(exc)
            else:
                # The data connection died under the TLS layer; the verdict
                # still comes on the control connection.
                with self.assertRaises(ftplib.error_perm) as final:
                    f.voidresp()
                code = reply_code(final.exception)
            self.assertEqual(code, 522, exc)
            # The session stays usable.
            self.assertEqual(f.voidcmd("NOOP")[:3], "200")
        finally:
            f.close()

    def test_reusing_client_downloads_and_uploads(self):
        # One protected transfer per session: see RepeatTest for more.
        f = tls_login()
        try:
            self.assertEqual(retr(f, "f.bin"), self.data)
            self.assertIsInstance(f.sock, ssl.SSLSocket)
        finally:
            f.quit()
        f = tls_login()
        try:
            up = pattern(200_003, 8)
            stor(f, "up.bin", up)
            self.assertEqual(read_file(disk("alice", "up.bin")), up)
        finally:
            f.quit()

    def test_clear_data_needs_no_reuse(self):
        f = tls_login(ftplib.FTP_TLS, prot_p=False)
        try:
            f.voidcmd("PBSZ 0")
            f.prot_c()
            self.assertEqual(retr(f, "f.bin"), self.data)
        finally:
            f.quit()

    def test_plain_ftp_still_works_when_tls_is_optional(self):
        f = ftplib.FTP()
        f.connect(HOST, PORT, timeout=TIMEOUT)
        try:
            f.login("alice", PASSWORD)
            self.assertEqual(retr(f, "f.bin"), self.data)
        finally:
            f.quit()

    def test_feat_advertises_tls(self):
        with Raw() as c:
            r = c.cmd("FEAT")
            self.assertEqual(r.code, 211, r)
            feats = [l.strip() for l in r.lines[1:-1]]
            for feat in (b"AUTH TLS", b"PBSZ", b"PROT"):
                self.assertTrue(any(x.startswith(feat) for x in feats), (feat, feats))

    def test_pbsz_and_prot_order(self):
        with TlsRaw() as c:
            self.assertEqual(c.cmd("PBSZ 0").code, 503)
            c.auth_tls()
            self.assertEqual(c.cmd("PROT P").code, 503, "PROT before PBSZ")
            r = c.cmd("PBSZ 0")
            self.assertEqual(r.code, 200, r)
            self.assertEqual(c.cmd("PROT S").code, 536)
            self.assertEqual(c.cmd("PROT X").code, 504)
            self.assertEqual(c.cmd("PROT P").code, 200)
            self.assertEqual(c.cmd("AUTH TLS").code, 503, "AUTH twice")

    def test_require_tls_account_refused_in_clear(self):
        with Raw() as c:
            self.assertEqual(c.cmd("USER tina").code, 331)
            self.assertEqual(c.cmd("PASS " + PASSWORD).code, 530)

    def test_require_tls_account_needs_protected_data(self):
        f = tls_login(user="tina", prot_p=False)
        try:
            with self.assertRaises(ftplib.error_perm) as caught:
                retr(f, "f.bin")
            self.assertEqual(reply_code(caught.exception), 521)
            f.voidcmd("PBSZ 0")
            with self.assertRaises(ftplib.error_perm) as caught:
                f.prot_c()
            self.assertEqual(reply_code(caught.exception), 536)
            f.prot_p()
            self.assertEqual(retr(f, "f.bin"), self.data)
        finally:
            f.quit()

    def test_ccc_is_refused_by_default(self):
        f = tls_login()
        try:
            with self.assertRaises(ftplib.error_perm) as caught:
                f.ccc()
            self.assertEqual(reply_code(caught.exception), 534)
            self.assertEqual(f.voidcmd("NOOP")[:3], "200")
        finally:
            f.quit()


class RepeatTest(unittest.TestCase):
    """Session reuse required: every data connection of a session resumes
    the control connection's session, however many there are."""

    def test_many_protected_transfers_in_one_session(self):
        data = pattern(64_000, 11)
        write_file(disk("alice", "r.bin"), data)
        f = tls_login()
        try:
            for i in range(12):
                self.assertEqual(retr(f, "r.bin"), data, "download %d" % i)
            for i in range(4):
                stor(f, "r%d.bin" % i, data[i:])
                self.assertEqual(read_file(disk("alice", "r%d.bin" % i)), data[i:])
            self.assertIn("r3.bin", f.nlst())
        finally:
            f.quit()


class NoReuseTest(unittest.TestCase):
    """require_session_reuse = false: stock FTP_TLS works."""

    def test_stock_ftp_tls_transfers(self):
        data = pattern(100_000, 9)
        write_file(disk("alice", "g.bin"), data)
        f = tls_login(ftplib.FTP_TLS)
        try:
            self.assertEqual(retr(f, "g.bin"), data)
            stor(f, "g2.bin", data[::-1])
            self.assertEqual(read_file(disk("alice", "g2.bin")), data[::-1])
        finally:
            f.quit()


class AllTest(unittest.TestCase):
    """control = "all", data = "all"."""

    def setUp(self):
        self.data = pattern(50_000, 3)
        write_file(disk("alice", "h.bin"), self.data)

    def test_user_before_auth_is_refused_with_534(self):
        with Raw() as c:
            r = c.cmd("USER alice")
            self.assertEqual(r.code, 534, r)
            r = c.cmd("USER anonymous")
            self.assertEqual(r.code, 534, "anonymous too under control = all: %r" % r)

    def test_transfer_without_prot_p_is_refused_with_521(self):
        f = tls_login(prot_p=False)
        try:
            with self.assertRaises(ftplib.error_perm) as caught:
                retr(f, "h.bin")
            self.assertEqual(reply_code(caught.exception), 521)
            f.voidcmd("PBSZ 0")
            with self.assertRaises(ftplib.error_perm) as caught:
                f.voidcmd("PROT C")
            self.assertEqual(reply_code(caught.exception), 536)
            with self.assertRaises(ftplib.error_perm) as caught:
                f.nlst()
            self.assertEqual(reply_code(caught.exception), 521, "listings are data too")
            f.prot_p()
            self.assertEqual(retr(f, "h.bin"), self.data)
        finally:
            f.quit()

    def test_ccc_refused_when_control_tls_is_required(self):
        f = tls_login()
        try:
            with self.assertRaises(ftplib.error_perm) as caught:
                f.ccc()
            self.assertEqual(reply_code(caught.exception), 534)
        finally:
            f.quit()


class AccountsTest(unittest.TestCase):
    """control = "accounts", data = "accounts": anonymous may stay plaintext."""

    def test_anonymous_stays_plaintext(self):
        write_file(disk("pub", "readme.txt"), b"public\n")
        f = ftplib.FTP()
        f.connect(HOST, PORT, timeout=TIMEOUT)
        try:
            f.login("anonymous", "me@example.org")
            self.assertEqual(retr(f, "readme.txt"), b"public\n")
            self.assertNotIsInstance(f.sock, ssl.SSLSocket)
        finally:
            f.quit()

    def test_account_user_in_clear_is_refused_with_534(self):
        with Raw() as c:
            r = c.cmd("USER alice")
            self.assertEqual(r.code, 534, r)

    def test_account_needs_prot_p(self):
        write_file(disk("alice", "k.bin"), b"k" * 1000)
        f = tls_login(prot_p=False)
        try:
            with self.assertRaises(ftplib.error_perm) as caught:
                retr(f, "k.bin")
            self.assertEqual(reply_code(caught.exception), 521)
            f.prot_p()
            self.assertEqual(retr(f, "k.bin"), b"k" * 1000)
        finally:
            f.quit()


class ImplicitTest(unittest.TestCase):
    """TLS from the first byte on the implicit listener."""

    def test_greeting_comes_over_tls_and_transfers_work(self):
        port = int(os.environ["OXFTP_IMPLICIT_PORT"])
        data = pattern(70_000, 5)
        write_file(disk("alice", "i.bin"), data)

        class Implicit(ReusingFTP_TLS):
            def connect(self, host, port, timeout):
                self.host, self.port, self.timeout = host, port, timeout
                raw = socket.create_connection((host, port), timeout=timeout)
                self.sock = self.context.wrap_socket(raw, server_hostname=host)
                self.af = self.sock.family
                self.file = self.sock.makefile("r", encoding=self.encoding)
                self.welcome = self.getresp()
                return self.welcome

        f = Implicit(context=context(), timeout=TIMEOUT)
        f.connect(HOST, port, TIMEOUT)
        try:
            self.assertTrue(f.welcome.startswith("220"), f.welcome)
            # Already protected: AUTH is refused, login goes straight on.
            with self.assertRaises(ftplib.error_perm) as caught:
                f.voidcmd("AUTH TLS")
            self.assertEqual(reply_code(caught.exception), 503)
            f.login("alice", PASSWORD)
            f.prot_p()
            self.assertEqual(retr(f, "i.bin"), data)
        finally:
            f.quit()

    def test_plaintext_on_the_implicit_port_gets_no_greeting(self):
        port = int(os.environ["OXFTP_IMPLICIT_PORT"])
        s = socket.create_connection((HOST, port), timeout=TIMEOUT)
        try:
            s.sendall(b"USER alice\r\n")
            got = recv_all(s, 4096)
            self.assertFalse(got.startswith(b"220"), got)
            self.assertNotIn(b"331", got)
        finally:
            s.close()


if __name__ == "__main__":
    unittest.main()
