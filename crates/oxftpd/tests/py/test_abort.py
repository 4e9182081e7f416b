"""ABOR (RFC 959 4.1.3): interrupting a transfer in progress the ways real
clients do it. The server must answer 426 then 226 (or just 226 when the
transfer had already finished), close the data connection, and keep the
control connection usable."""

import ftplib
import socket
import time
import unittest

from oxftp_helpers import HOST, PASSWORD, PORT, TIMEOUT, Raw, disk, recv_all, write_file

IAC, IP, DM = b"\xff", b"\xf4", b"\xf2"
SIZE = 512 * 1024 * 1024  # sparse on disk; far more than socket buffers hold
ABOR_DEADLINE = 10  # seconds


class AbortBase(unittest.TestCase):
    """Fixture and checks shared by the ABOR tests."""

    @classmethod
    def setUpClass(cls):
        with open(disk("alice", "huge.bin"), "wb") as f:
            f.truncate(SIZE)  # reads as zeros; cheap to create
        write_file(disk("alice", "small.txt"), b"after abort")

    def setUp(self):
        self.c = Raw()
        self.c.login()
        # A stuck ABOR must fail fast with a clear message, not after TIMEOUT.
        self.c.sock.settimeout(ABOR_DEADLINE)

    def tearDown(self):
        self.c.close()

    def start_download(self):
        data = self.c.data_connection()
        self.assertEqual(self.c.cmd("TYPE I").code, 200)
        first = self.c.cmd("RETR huge.bin")
        self.assertIn(first.code, (125, 150), first)
        got = data.recv(65536)
        self.assertTrue(got, "no data arrived")
        return data, len(got)

    def expect_abort_replies(self, how):
        try:
            r = self.c.reply()
            if r.code == 426:
                r = self.c.reply()
        except socket.timeout:
            self.fail("no reply to ABOR within %ds (%s)" % (ABOR_DEADLINE, how))
        self.assertEqual(r.code, 226, r)

    def check_session_usable(self, data, received):
        received += len(recv_all(data))
        self.assertLess(received, SIZE, "the whole file arrived despite ABOR")
        self.c.sock.settimeout(TIMEOUT)
        self.assertEqual(self.c.cmd("NOOP").code, 200)
        first, got, last = self.c.transfer_in("RETR small.txt")
        self.assertEqual((got, last.code), (b"after abort", 226))


class AbortTest(AbortBase):
    """ABOR as a plain command line, and a data connection closed mid-transfer."""

    def test_abor_without_transfer(self):
        r = self.c.cmd("ABOR")
        self.assertIn(r.code, (225, 226), r)
        self.assertEqual(self.c.cmd("NOOP").code, 200)

    def test_plain_abor_while_the_client_stops_reading(self):
        data, received = self.start_download()
        # The client stops reading, so the server is blocked writing; a
        # plain ABOR line must still interrupt it.
        self.c.send(b"ABOR\r\n")
        self.expect_abort_replies("plain ABOR")
        self.check_session_usable(data, received)

    def test_client_closing_the_data_connection_fails_the_transfer(self):
        data, _ = self.start_download()
        data.close()
        r = self.c.reply()
        self.assertIn(r.code, (426, 451), r)
        self.assertEqual(self.c.cmd("NOOP").code, 200)



class UrgentAbortTest(AbortBase):
    """ABOR preceded by TCP urgent data, as interactive clients send it on
    Ctrl-C. Urgent data makes the kernel end a read early at the urgent
    mark, which an event loop must not take for "buffer drained"."""

    def test_abor_the_bsd_client_way(self):
        # tnftp and inetutils-ftp on Ctrl-C: IAC IP, then IAC DM with the DM
        # byte as TCP urgent data, then the ABOR line.
        data, received = self.start_download()
        self.c.sock.sendall(IAC + IP)
        self.c.sock.sendall(IAC + DM, socket.MSG_OOB)
        self.c.send(b"ABOR\r\n")
        self.expect_abort_replies("IAC IP, IAC DM urgent, ABOR")
        self.check_session_usable(data, received)

    def test_ftplib_abort(self):
        # Python's ftplib sends the ABOR line itself as urgent data.
        f = ftplib.FTP()
        f.connect(HOST, PORT, timeout=ABOR_DEADLINE)
        f.login("alice", PASSWORD)
        try:
            conn = f.transfercmd("RETR huge.bin")
            self.assertTrue(conn.recv(65536))
            started = time.monotonic()
            try:
                resp = f.abort()
            except (socket.timeout, TimeoutError):
                self.fail("ftplib's abort() got no reply within %ds" % ABOR_DEADLINE)
            self.assertIn(resp[:3], ("426", "226"), resp)
            if resp.startswith("426"):
                self.assertTrue(f.getresp().startswith("226"))
            self.assertLess(time.monotonic() - started, ABOR_DEADLINE)
            conn.close()
            self.assertTrue(f.voidcmd("NOOP").startswith("200"))
        finally:
            f.close()


if __name__ == "__main__":
    unittest.main()
