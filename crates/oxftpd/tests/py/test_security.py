"""Security properties: FTP bounce, foreign passive connections, guest
confinement, anonymous restrictions, read-only accounts. Every refusal is
checked on disk (or by what a foreign listener saw), not only by reply code."""

import os
import socket
import stat
import unittest

from oxftp_helpers import TIMEOUT, Raw, disk, read_file, recv_all, write_file

SECRET = b"ALICE SECRET"


def listen_on(host):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((host, 0))
    s.listen(4)
    s.settimeout(2.0)
    return s


def was_contacted(listener):
    try:
        conn, _ = listener.accept()
    except socket.timeout:
        return False
    conn.close()
    return True


class ActiveModeTest(unittest.TestCase):
    """PORT/EPRT may only name the control connection's own peer address."""

    def setUp(self):
        write_file(disk("alice", "f.txt"), b"payload")
        self.c = Raw()
        self.c.login()

    def tearDown(self):
        self.c.close()

    def check_refused(self, command, listener):
        r = self.c.cmd(command)
        self.assertEqual(r.code // 100, 5, "%s -> %r" % (command, r))
        # Even if a transfer is attempted now, nothing connects to the third party.
        r = self.c.cmd("RETR f.txt")
        if r.code < 200:
            r = self.c.reply()
        self.assertIn(r.code // 100, (4, 5), r)
        self.assertFalse(was_contacted(listener), "the server connected to the third-party address")
        self.assertEqual(self.c.cmd("NOOP").code, 200)

    def test_port_to_another_host_is_refused(self):
        listener = listen_on("127.0.0.2")
        port = listener.getsockname()[1]
        self.check_refused("PORT 127,0,0,2,%d,%d" % (port >> 8, port & 255), listener)
        listener.close()

    def test_eprt_to_another_host_is_refused(self):
        listener = listen_on("127.0.0.2")
        port = listener.getsockname()[1]
        self.check_refused("EPRT |1|127.0.0.2|%d|" % port, listener)
        listener.close()

    def test_port_to_the_peer_works(self):
        listener = listen_on("127.0.0.1")
        port = listener.getsockname()[1]
        self.assertEqual(self.c.cmd("PORT 127,0,0,1,%d,%d" % (port >> 8, port & 255)).code, 200)
        self.c.send(b"RETR f.txt\r\n")
        conn, _ = listener.accept()
        self.assertIn(self.c.reply().code, (125, 150))
        conn.settimeout(TIMEOUT)
        self.assertEqual(recv_all(conn), b"payload")
        self.assertEqual(self.c.reply().code, 226)
        listener.close()


class PassiveModeTest(unittest.TestCase):
    """A passive data connection must come from the control connection's peer."""

    def setUp(self):
        write_file(disk("alice", "f.txt"), SECRET)
        self.c = Raw()
        self.c.login()

    def tearDown(self):
        self.c.close()

    def check_foreign(self, open_data):
        data = open_data()
        r = self.c.cmd("RETR f.txt")
        if r.code in (125, 150):
            r = self.c.reply()
        self.assertEqual(r.code, 425, r)
        data.settimeout(5)
        try:
            got = recv_all(data)
        except socket.timeout:
            got = b""
        self.assertNotIn(SECRET, got, "the file went to a foreign address")
        self.assertEqual(self.c.cmd("NOOP").code, 200)
        # The session can still transfer normally.
        first, got, last = self.c.transfer_in("RETR f.txt")
        self.assertEqual((got, last.code), (SECRET, 226))

    def test_pasv_connection_from_a_foreign_address_gets_425(self):
        self.check_foreign(lambda: self.c.data_connection(source=("127.0.0.2", 0)))

    def test_epsv_connection_from_a_foreign_address_gets_425(self):
        def open_data():
            port = self.c.epsv()
            return socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT, source_address=("127.0.0.2", 0))

        self.check_foreign(open_data)


class GuestTest(unittest.TestCase):
    """gina is confined to /guest: no `..`, absolute path, symlink or encoding escape."""

    @classmethod
    def setUpClass(cls):
        write_file(disk("alice", "secret.txt"), SECRET)
        write_file(disk("guest", "own.txt"), b"guest file")
        for name, target in [
            ("link", "../alice"),
            ("abslink", disk("alice")),
            ("secretlink", "../alice/secret.txt"),
            ("rootlink", "/"),
        ]:
            path = disk("guest", name)
            if not os.path.lexists(path):
                os.symlink(target, path)

    def setUp(self):
        self.c = Raw()
        self.c.login("gina")

    def tearDown(self):
        self.c.close()

    def assertNoSecret(self, r, data=b""):
        """Neither alice's file content nor (in listings) her file name leaks.

        A reply may echo the path the client asked for, so names are only
        checked in data-connection output."""
        blob = b"\n".join(r.lines) + data if r else data
        self.assertNotIn(SECRET, blob)
        self.assertNotIn(b"secret.txt", data)

    def listing(self, command="NLST"):
        first, data, last = self.c.transfer_in(command)
        self.assertNoSecret(first, data)
        return data

    def test_cwd_up_and_root_stay_in_the_home(self):
        for cmd in ["CWD ..", "CWD /", "CWD ../..", "CDUP", "CWD /../..", "CWD ../alice"]:
            r = self.c.cmd(cmd)
            self.assertIn(r.code, (250, 550), "%s -> %r" % (cmd, r))
            pwd = self.c.cmd("PWD")
            self.assertIn(pwd.code, (257,))
            names = self.listing("NLST")
            self.assertIn(b"own.txt", names.split(b"\r\n"), "%s left the guest home: %r / %r" % (cmd, pwd, names))
            self.c.cmd("CWD /")

    def test_paths_that_try_to_leave_cannot_read_alice(self):
        for path in [
            "../alice/secret.txt",
            "/../alice/secret.txt",
            "../../alice/secret.txt",
            "/alice/secret.txt",
            "%2e%2e/alice/secret.txt",
            "..%2falice%2fsecret.txt",
            "link/secret.txt",
            "abslink/secret.txt",
            "secretlink",
            "rootlink" + disk("alice", "secret.txt"),
        ]:
            first, data, last = self.c.transfer_in("RETR " + path)
            self.assertNoSecret(first, data)
            self.assertEqual(first.code, 550, "RETR %s -> %r" % (path, first))
            for cmd in ["SIZE ", "MDTM ", "MLST ", "STAT "]:
                r = self.c.cmd(cmd + path)
                self.assertNoSecret(r)
                if cmd == "STAT ":
                    # A listing line would carry size and permissions, not only the echoed path.
                    self.assertNotIn(r.code, (211, 212, 213), "%s%s -> %r" % (cmd, path, r))
                else:
                    self.assertEqual(r.code, 550, "%s%s -> %r" % (cmd, path, r))

    def test_symlinks_out_of_the_home_do_not_list_alice(self):
        for d in ["link", "abslink", "rootlink", "%2e%2e"]:
            r = self.c.cmd("CWD " + d)
            self.assertEqual(r.code, 550, "CWD %s -> %r" % (d, r))
            first, data, last = self.c.transfer_in("LIST " + d)
            self.assertNoSecret(first, data)
            first, data, last = self.c.transfer_in("MLSD " + d)
            self.assertNoSecret(first, data)

    def test_writes_cannot_land_outside(self):
        before = sorted(os.listdir(disk("alice")))
        mode = stat.S_IMODE(os.stat(disk("alice", "secret.txt")).st_mode)
        for path in ["../alice/evil.txt", "/../alice/evil.txt", "link/evil.txt", "abslink/evil.txt"]:
            self.c.transfer_out("STOR " + path, b"evil")
            self.c.transfer_out("APPE " + path, b"evil")
            self.c.cmd("MKD " + path + ".d")
        for path in ["../alice/secret.txt", "link/secret.txt", "secretlink"]:
            self.c.cmd("DELE " + path)
            self.c.cmd("SITE CHMOD 777 " + path)
            self.c.cmd("MFMT 20000101000000 " + path)
            self.c.cmd("RNFR " + path)
            self.c.cmd("RNTO stolen.txt")
        self.c.cmd("RNFR own.txt")
        self.c.cmd("RNTO ../alice/own.txt")
        self.c.cmd("RNFR own.txt")
        self.c.cmd("RNTO link/own.txt")
        self.assertEqual(sorted(os.listdir(disk("alice"))), before)
        self.assertEqual(read_file(disk("alice", "secret.txt")), SECRET)
        self.assertEqual(stat.S_IMODE(os.stat(disk("alice", "secret.txt")).st_mode), mode)
        self.assertFalse(os.path.exists(disk("guest", "stolen.txt")))
        self.assertEqual(self.c.cmd("NOOP").code, 200)


class AnonymousTest(unittest.TestCase):
    """anonymous sees /pub read-only and may only upload new files into /incoming."""

    def setUp(self):
        write_file(disk("pub", "readme.txt"), b"public")
        write_file(disk("alice", "secret.txt"), SECRET)
        self.c = Raw()
        self.c.login("anonymous", "someone@example.com")

    def tearDown(self):
        self.c.close()

    def test_reads_the_public_root(self):
        first, data, last = self.c.transfer_in("RETR readme.txt")
        self.assertEqual((data, last.code), (b"public", 226))
        first, data, last = self.c.transfer_in("NLST")
        names = data.split(b"\r\n")
        self.assertIn(b"readme.txt", names)
        self.assertIn(b"incoming", names)
        for path in ["../alice/secret.txt", "/../alice/secret.txt", "/alice/secret.txt"]:
            first, data, last = self.c.transfer_in("RETR " + path)
            self.assertEqual(first.code, 550, first)
            self.assertNotIn(SECRET, data)

    def test_cannot_write_outside_incoming(self):
        first, last = self.c.transfer_out("STOR new.txt", b"x")
        self.assertEqual(first.code, 550, first)
        self.assertFalse(os.path.exists(disk("pub", "new.txt")))
        self.assertEqual(self.c.cmd("DELE readme.txt").code, 550)
        self.assertEqual(self.c.cmd("MKD newdir").code, 550)
        self.assertEqual(self.c.cmd("SITE CHMOD 777 readme.txt").code, 550)
        self.assertEqual(self.c.cmd("MFMT 20000101000000 readme.txt").code, 550)
        r = self.c.cmd("RNFR readme.txt")
        if r.code == 350:
            r = self.c.cmd("RNTO moved.txt")
        self.assertEqual(r.code, 550, r)
        first, last = self.c.transfer_out("APPE readme.txt", b"x")
        self.assertEqual(first.code, 550, first)
        self.assertEqual(read_file(disk("pub", "readme.txt")), b"public")
        self.assertFalse(os.path.exists(disk("pub", "newdir")))
        self.assertFalse(os.path.exists(disk("pub", "moved.txt")))

    def test_incoming_is_upload_only(self):
        first, last = self.c.transfer_out("STOR incoming/upload.txt", b"first")
        self.assertEqual(last.code, 226, last)
        self.assertEqual(read_file(disk("pub", "incoming", "upload.txt")), b"first")
        # No overwrite, append, resume, delete, rename, download or listing.
        first, last = self.c.transfer_out("STOR incoming/upload.txt", b"second")
        self.assertEqual(first.code, 550, first)
        first, last = self.c.transfer_out("APPE incoming/upload.txt", b"more")
        self.assertEqual(first.code, 550, first)
        r = self.c.cmd("REST 2")
        if r.code == 350:
            first, last = self.c.transfer_out("STOR incoming/upload.txt", b"xx")
            self.assertEqual(first.code, 550, first)
        self.assertEqual(self.c.cmd("DELE incoming/upload.txt").code, 550)
        r = self.c.cmd("RNFR incoming/upload.txt")
        if r.code == 350:
            r = self.c.cmd("RNTO incoming/renamed.txt")
        self.assertEqual(r.code, 550, r)
        self.assertEqual(self.c.cmd("SITE CHMOD 777 incoming/upload.txt").code, 550)
        self.assertEqual(self.c.cmd("MKD incoming/sub").code, 550)
        first, data, last = self.c.transfer_in("RETR incoming/upload.txt")
        self.assertEqual(first.code, 550, first)
        self.assertNotIn(b"first", data)
        for cmd in ["NLST incoming", "LIST incoming", "MLSD incoming"]:
            first, data, last = self.c.transfer_in(cmd)
            self.assertNotIn(b"upload.txt", data, cmd)
            # Refused outright, or (after 150) with a failure as the final reply.
            self.assertEqual(last.code // 100, 5, "%s -> %r / %r" % (cmd, first, last))
        r = self.c.cmd("STAT incoming")
        self.assertNotIn(b"upload.txt", b"\n".join(r.lines))
        self.assertEqual(read_file(disk("pub", "incoming", "upload.txt")), b"first")
        left = sorted(os.listdir(disk("pub", "incoming")))
        self.assertIn("upload.txt", left)
        self.assertNotIn("renamed.txt", left)
        self.assertFalse(any(n.startswith(".oxftp-upload") for n in left), left)

    def test_cwd_into_incoming_then_upload(self):
        self.assertEqual(self.c.cmd("CWD incoming").code, 250)
        first, last = self.c.transfer_out("STOR fromcwd.txt", b"cwd upload")
        self.assertEqual(last.code, 226, last)
        self.assertEqual(read_file(disk("pub", "incoming", "fromcwd.txt")), b"cwd upload")


class ReadOnlyTest(unittest.TestCase):
    """ro shares alice's home but may not change anything."""

    def setUp(self):
        write_file(disk("alice", "ro.txt"), b"unchanged")
        os.makedirs(disk("alice", "rodir"), exist_ok=True)
        self.c = Raw()
        self.c.login("ro")

    def tearDown(self):
        self.c.close()

    def test_reads_work(self):
        first, data, last = self.c.transfer_in("RETR ro.txt")
        self.assertEqual((data, last.code), (b"unchanged", 226))

    def test_every_write_is_refused(self):
        before = sorted(os.listdir(disk("alice")))
        first, last = self.c.transfer_out("STOR new.txt", b"x")
        self.assertEqual(first.code, 550, first)
        first, last = self.c.transfer_out("STOR ro.txt", b"x")
        self.assertEqual(first.code, 550, first)
        first, last = self.c.transfer_out("APPE ro.txt", b"x")
        self.assertEqual(first.code, 550, first)
        first, last = self.c.transfer_out("STOU", b"x")
        self.assertEqual(first.code, 550, first)
        for cmd in ["DELE ro.txt", "MKD d", "RMD rodir", "SITE CHMOD 777 ro.txt", "MFMT 20000101000000 ro.txt"]:
            self.assertEqual(self.c.cmd(cmd).code, 550, cmd)
        r = self.c.cmd("RNFR ro.txt")
        if r.code == 350:
            r = self.c.cmd("RNTO ro2.txt")
        self.assertEqual(r.code, 550, r)
        self.assertEqual(sorted(os.listdir(disk("alice"))), before)
        self.assertEqual(read_file(disk("alice", "ro.txt")), b"unchanged")
        self.assertTrue(os.path.isdir(disk("alice", "rodir")))


if __name__ == "__main__":
    unittest.main()
