"""Exact reply codes for informational commands and argument errors."""

import os
import re
import unittest

from oxftp_helpers import Raw, disk, write_file


class RepliesTest(unittest.TestCase):
    def setUp(self):
        self.c = Raw()
        self.c.login()

    def tearDown(self):
        self.c.close()

    def assertMultiline(self, r, code):
        self.assertEqual(r.code, code, r)
        self.assertGreater(len(r.lines), 1, "expected a multi-line reply: %r" % r)
        self.assertTrue(r.lines[0].startswith(b"%d-" % code), r)
        self.assertTrue(r.lines[-1].startswith(b"%d " % code), r)

    def test_stat_without_argument_is_211_multiline(self):
        self.assertMultiline(self.c.cmd("STAT"), 211)

    def test_stat_path_lists_over_the_control_connection(self):
        write_file(disk("alice", "st", "one.txt"), b"1")
        write_file(disk("alice", "st", "two.txt"), b"22")
        r = self.c.cmd("STAT st")
        self.assertIn(r.code, (211, 212, 213), r)
        self.assertMultiline(r, r.code)
        body = b"\n".join(r.lines[1:-1])
        self.assertIn(b"one.txt", body)
        self.assertIn(b"two.txt", body)
        # Relative to the current directory.
        self.assertEqual(self.c.cmd("CWD st").code, 250)
        r = self.c.cmd("STAT two.txt")
        self.assertIn(r.code, (211, 212, 213), r)
        self.assertIn(b"two.txt", b"\n".join(r.lines))
        r = self.c.cmd("STAT missing.txt")
        self.assertIn(r.code // 100, (4, 5), r)

    def test_help_is_214_multiline(self):
        r = self.c.cmd("HELP")
        self.assertMultiline(r, 214)
        self.assertIn(b"RETR", b"\n".join(r.lines))

    def test_help_for_a_command(self):
        r = self.c.cmd("HELP RETR")
        self.assertEqual(r.code, 214, r)
        self.assertIn(b"RETR", b"\n".join(r.lines).upper())

    def test_feat_lists_the_extensions(self):
        r = self.c.cmd("FEAT")
        self.assertMultiline(r, 211)
        feats = [line.strip().decode() for line in r.lines[1:-1]]
        for line in r.lines[1:-1]:
            self.assertTrue(line.startswith(b" "), "feature lines start with a space (RFC 2389): %r" % line)
        names = {f.split(" ")[0].upper() for f in feats}
        for want in ["EPSV", "EPRT", "MDTM", "MLST", "SIZE", "UTF8", "MFMT", "TVFS"]:
            self.assertIn(want, names, feats)
        self.assertIn("REST STREAM", [f.upper() for f in feats])
        mlst = [f for f in feats if f.upper().startswith("MLST ")]
        self.assertTrue(mlst, feats)
        for fact in ["type*", "size*", "modify*"]:
            self.assertIn(fact, mlst[0].lower())

    def test_syst(self):
        self.assertEqual(self.c.cmd("SYST").lines, [b"215 UNIX Type: L8"])

    def test_argument_errors(self):
        cases = [
            ("NOOP x", 501),
            ("REST abc", 501),
            ("REST -1", 501),
            ("XYZZY", 502),
            ("TYPE E", 504),
            ("TYPE A N", 200),
            ("TYPE I", 200),
            ("TYPE L 8", 200),
            ("MODE B", 504),
            ("MODE S", 200),
            ("STRU R", 504),
            ("STRU F", 200),
            ("RNTO somewhere", 503),
            ("CWD", 501),
            ("PORT 1,2,3", 501),
            ("NOOP", 200),
        ]
        for cmd, code in cases:
            r = self.c.cmd(cmd)
            self.assertEqual(r.code, code, "%s -> %r" % (cmd, r))

    def test_rnfr_of_missing_file_then_rnto_is_503(self):
        self.assertEqual(self.c.cmd("RNFR does-not-exist").code, 550)
        self.assertEqual(self.c.cmd("RNTO x").code, 503)

    def test_directory_commands(self):
        r = self.c.cmd("MKD newdir")
        self.assertEqual(r.code, 257, r)
        self.assertIn(b'"/newdir"', r.lines[0])
        self.assertTrue(os.path.isdir(disk("alice", "newdir")))
        self.assertEqual(self.c.cmd("XMKD newdir/inner").code, 257)
        self.assertEqual(self.c.cmd("MKD newdir").code, 550)
        self.assertEqual(self.c.cmd("CWD newdir/inner").code, 250)
        self.assertIn(b'"/newdir/inner"', self.c.cmd("PWD").lines[0])
        self.assertEqual(self.c.cmd("CDUP").code, 250)
        self.assertIn(b'"/newdir"', self.c.cmd("XPWD").lines[0])
        self.assertEqual(self.c.cmd("XCUP").code, 250)
        self.assertEqual(self.c.cmd("CWD missing").code, 550)
        self.assertEqual(self.c.cmd("RMD newdir").code, 550, "non-empty directory")
        self.assertEqual(self.c.cmd("XRMD newdir/inner").code, 250)
        self.assertEqual(self.c.cmd("RMD newdir").code, 250)
        self.assertFalse(os.path.exists(disk("alice", "newdir")))

    def test_pasv_and_epsv_formats(self):
        host, port = self.c.pasv()
        self.assertEqual(host, "127.0.0.1")
        self.assertGreater(port, 0)
        lo = os.environ.get("OXFTP_PASV_LO")
        hi = os.environ.get("OXFTP_PASV_HI")
        port2 = self.c.epsv()
        if lo and hi:
            self.assertTrue(int(lo) <= port <= int(hi), "PASV port %d outside %s-%s" % (port, lo, hi))
            self.assertTrue(int(lo) <= port2 <= int(hi), "EPSV port %d outside %s-%s" % (port2, lo, hi))

    def test_nlst_glob(self):
        for name in ["a.txt", "b.txt", "c.bin", ".h.txt"]:
            write_file(disk("alice", "g", name), b"x")
        self.assertEqual(self.c.cmd("CWD g").code, 250)
        first, data, last = self.c.transfer_in("NLST *.txt")
        self.assertIn(first.code, (125, 150), first)
        self.assertEqual(last.code, 226, last)
        names = sorted(n.rsplit(b"/", 1)[-1] for n in data.split(b"\r\n") if n)
        self.assertEqual(names, [b"a.txt", b"b.txt"])
        first, data, last = self.c.transfer_in("NLST")
        self.assertEqual(sorted(n for n in data.split(b"\r\n") if n), [b"a.txt", b"b.txt", b"c.bin"])

    def test_list_accepts_ls_flags(self):
        write_file(disk("alice", "lf", "f.txt"), b"abc")
        first, data, last = self.c.transfer_in("LIST -la lf")
        self.assertEqual(last.code, 226, last)
        lines = [l for l in data.split(b"\r\n") if l and not l.startswith(b"total ")]
        self.assertTrue(any(l.endswith(b" f.txt") and l.startswith(b"-") for l in lines), lines)
        for line in lines:
            self.assertTrue(re.match(rb"^[-dl][-rwxsStT]{9} ", line), line)


    def test_epsv_all_locks_out_the_other_data_commands(self):
        # RFC 2428 section 4: after EPSV ALL only EPSV may set up data connections.
        self.assertEqual(self.c.cmd("EPSV ALL").code, 200)
        for cmd in ["PASV", "PORT 127,0,0,1,4,1", "EPRT |1|127.0.0.1|1025|"]:
            self.assertEqual(self.c.cmd(cmd).code // 100, 5, cmd)
        self.c.epsv()
        self.assertEqual(self.c.cmd("EPSV 2").code, 522)

    def test_quotes_in_directory_names_are_doubled(self):
        # RFC 959 appendix II: an embedded quote is written twice in 257.
        r = self.c.cmd('MKD say"hi')
        self.assertEqual(r.code, 257, r)
        self.assertIn(b'"/say""hi"', r.lines[0])
        self.assertTrue(os.path.isdir(disk("alice", 'say"hi')))
        self.assertEqual(self.c.cmd('CWD say"hi').code, 250)
        self.assertIn(b'"/say""hi"', self.c.cmd("PWD").lines[0])

    def test_misc_commands(self):
        write_file(disk("alice", "plain.txt"), b"p")
        self.assertEqual(self.c.cmd("OPTS UTF8 ON").code, 200)
        self.assertEqual(self.c.cmd("CLNT e2e-tests").code, 200)
        self.assertIn(self.c.cmd("ALLO 100").code, (200, 202))
        self.assertMultiline(self.c.cmd("SITE HELP"), 214)
        self.assertEqual(self.c.cmd("SITE NOSUCHTHING").code // 100, 5)
        self.assertEqual(self.c.cmd("CWD plain.txt").code, 550)
        # Changing users needs REIN first (or is refused); never a silent switch.
        r = self.c.cmd("USER ro")
        if r.code == 331:
            self.assertEqual(self.c.cmd("PASS wrong").code, 530)
        else:
            self.assertEqual(r.code // 100, 5, r)
            self.assertEqual(self.c.cmd("NOOP").code, 200)

    def test_nlst_glob_in_a_subdirectory_keeps_the_prefix(self):
        # Classic clients RETR exactly the names `mget sub/*.txt` gets back.
        for name in ["a.txt", "b.txt", "c.bin"]:
            write_file(disk("alice", "pre", name), b"x")
        first, data, last = self.c.transfer_in("NLST pre/*.txt")
        self.assertEqual(last.code, 226, last)
        self.assertEqual(sorted(n for n in data.split(b"\r\n") if n), [b"pre/a.txt", b"pre/b.txt"])


if __name__ == "__main__":
    unittest.main()
