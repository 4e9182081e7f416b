"""Malformed input and interrupted transfers: the session must answer with the
right code and stay usable, never close or hang."""

import os
import select
import socket
import time
import unittest

from oxftp_helpers import Raw, disk, read_file, write_file

class RobustnessTest(unittest.TestCase):
    def setUp(self):
        self.c = Raw()
        self.c.login()

    def tearDown(self):
        self.c.close()

    def assertAlive(self):
        self.assertEqual(self.c.cmd("NOOP").code, 200)

    def test_overlong_line_is_500_and_the_session_survives(self):
        r = self.c.cmd(b"NOOP " + b"x" * 5000)
        self.assertEqual(r.code, 500, r)
        self.assertAlive()
        # Before login too.
        with Raw() as fresh:
            self.assertEqual(fresh.cmd(b"USER " + b"a" * 5000).code, 500)
            fresh.login()

    def test_nul_byte_is_501(self):
        self.assertEqual(self.c.cmd(b"CWD a\x00b").code, 501)
        self.assertEqual(self.c.cmd(b"NOOP\x00").code, 501)
        self.assertAlive()

    def test_bare_cr_is_501(self):
        self.assertEqual(self.c.cmd(b"NOOP\rX").code, 501)
        self.assertEqual(self.c.cmd(b"CWD a\rb").code, 501)
        self.assertAlive()

    def test_lf_only_terminator_is_accepted(self):
        self.c.send(b"NOOP\n")
        self.assertEqual(self.c.reply().code, 200)

    def test_pipelined_commands_each_get_a_reply(self):
        self.c.send(b"NOOP\r\nPWD\r\nSYST\r\n")
        self.assertEqual([self.c.reply().code for _ in range(3)], [200, 257, 215])

    def test_empty_line_is_500(self):
        self.assertEqual(self.c.cmd(b"").code, 500)
        self.assertAlive()

    def test_invalid_utf8_in_paths_round_trips(self):
        name = b"caf\xe9-\xff.txt"  # Latin-1 and a lone 0xFF: not UTF-8
        with open(os.path.join(disk("alice").encode(), name), "wb") as f:
            f.write(b"latin")
        # 0xFF must be doubled on the Telnet control connection (IAC IAC).
        wire = name.replace(b"\xff", b"\xff\xff")
        self.assertEqual(self.c.cmd("TYPE I").code, 200)
        r = self.c.cmd(b"SIZE " + wire)
        self.assertEqual(r.lines, [b"213 5"])
        first, data, last = self.c.transfer_in(b"RETR " + wire)
        self.assertEqual(last.code, 226, last)
        self.assertEqual(data, b"latin")
        first, data, last = self.c.transfer_in(b"NLST")
        self.assertIn(name, data.split(b"\r\n"))
        r = self.c.cmd(b"MKD dir-\xfe\xfd")
        self.assertEqual(r.code, 257, r)
        self.assertTrue(os.path.isdir(os.path.join(disk("alice").encode(), b"dir-\xfe\xfd")))
        self.assertAlive()

    def test_telnet_negotiation_is_ignored(self):
        # IAC WILL x / IAC DO x inside a command line are removed.
        self.c.send(b"NO\xff\xfb\x01OP\r\n")
        self.assertEqual(self.c.reply().code, 200)

    def test_partial_upload_with_atomic_uploads_leaves_nothing(self):
        write_file(disk("alice", "keep.bin"), b"original")
        data = self.c.data_connection()
        first = self.c.cmd("STOR keep.bin")
        self.assertIn(first.code, (125, 150), first)
        data.sendall(b"partial-new-content")
        # An abrupt reset (RST) instead of a clean close: the upload failed.
        data.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        data.close()
        r = self.c.reply()
        self.assertIn(r.code // 100, (2, 4), r)
        if r.code // 100 == 4:
            self.assertEqual(read_file(disk("alice", "keep.bin")), b"original")
        leftovers = [n for n in os.listdir(disk("alice")) if n.startswith(".oxftp-upload")]
        self.assertEqual(leftovers, [])
        self.assertAlive()

    def test_idle_session_still_answers_after_a_pause(self):
        time.sleep(1.0)
        self.assertAlive()
        ready, _, _ = select.select([self.c.sock], [], [], 0)
        self.assertEqual(ready, [], "unsolicited data on the control connection")


if __name__ == "__main__":
    unittest.main()
