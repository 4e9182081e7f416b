"""File commands with their effects on disk: MLSD/MLST, SIZE/MDTM, MFMT,
SITE CHMOD, STOU, APPE, REST, ASCII mode, DELE, RNFR/RNTO."""

import calendar
import io
import os
import stat
import time
import unittest

from oxftp_helpers import Raw, disk, ftp_login, pattern, read_file, write_file


def utc_stamp(secs):
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(secs))


class FilesTest(unittest.TestCase):
    def setUp(self):
        self.c = Raw()
        self.c.login()

    def tearDown(self):
        self.c.close()

    def test_mlsd_facts_match_the_disk(self):
        write_file(disk("alice", "ml", "file.txt"), b"12345")
        os.makedirs(disk("alice", "ml", "sub"))
        os.chmod(disk("alice", "ml", "file.txt"), 0o640)
        f = ftp_login()
        try:
            entries = {name: facts for name, facts in f.mlsd("ml")}
        finally:
            f.quit()
        facts = entries["file.txt"]
        self.assertEqual(facts["type"], "file")
        self.assertEqual(facts["size"], "5")
        self.assertEqual(facts["modify"][:14], utc_stamp(os.stat(disk("alice", "ml", "file.txt")).st_mtime))
        self.assertIn("r", facts.get("perm", ""))
        if "unix.mode" in facts:
            self.assertEqual(int(facts["unix.mode"], 8), 0o640)
        self.assertEqual(entries["sub"]["type"], "dir")
        self.assertNotIn("size", entries["sub"], "size is a file fact")
        for name, facts in entries.items():
            if facts["type"] in ("cdir", "pdir"):
                continue
            self.assertIn(name, ("file.txt", "sub"))

    def test_mlst_is_relative_to_the_current_directory(self):
        write_file(disk("alice", "m2", "x.bin"), b"abc")
        self.assertEqual(self.c.cmd("CWD m2").code, 250)
        r = self.c.cmd("MLST x.bin")
        self.assertEqual(r.code, 250, r)
        self.assertGreaterEqual(len(r.lines), 3, r)
        fact_line = r.lines[1]
        self.assertTrue(fact_line.startswith(b" "), r)
        facts, _, name = fact_line[1:].partition(b" ")
        self.assertTrue(name.endswith(b"x.bin"), r)
        facts = dict(kv.split(b"=", 1) for kv in facts.rstrip(b";").split(b";"))
        self.assertEqual(facts[b"type"], b"file")
        self.assertEqual(facts[b"size"], b"3")
        self.assertEqual(self.c.cmd("MLST nope").code, 550)
        r = self.c.cmd("MLST")
        self.assertEqual(r.code, 250, r)
        self.assertIn(b"type=dir", r.lines[1].lower())

    def test_size_and_mdtm(self):
        write_file(disk("alice", "s.bin"), pattern(12345))
        when = calendar.timegm((2019, 5, 6, 7, 8, 9))
        os.utime(disk("alice", "s.bin"), (when, when))
        self.assertEqual(self.c.cmd("TYPE I").code, 200)
        self.assertEqual(self.c.cmd("SIZE s.bin").lines, [b"213 12345"])
        self.assertEqual(self.c.cmd("MDTM s.bin").lines, [b"213 20190506070809"])
        self.assertEqual(self.c.cmd("SIZE missing").code, 550)
        self.assertEqual(self.c.cmd("MDTM missing").code, 550)
        os.makedirs(disk("alice", "adir"))
        self.assertEqual(self.c.cmd("SIZE adir").code, 550)

    def test_mfmt_sets_the_modification_time(self):
        write_file(disk("alice", "t.txt"), b"t")
        r = self.c.cmd("MFMT 20200102030405 t.txt")
        self.assertEqual(r.code, 213, r)
        self.assertIn(b"Modify=20200102030405", r.lines[0])
        self.assertEqual(int(os.stat(disk("alice", "t.txt")).st_mtime), calendar.timegm((2020, 1, 2, 3, 4, 5)))
        self.assertEqual(self.c.cmd("MDTM t.txt").lines, [b"213 20200102030405"])
        self.assertEqual(self.c.cmd("MFMT 20201302030405 t.txt").code, 501)
        self.assertEqual(self.c.cmd("MFMT 20200102030405 missing").code, 550)

    def test_site_chmod(self):
        write_file(disk("alice", "perm.txt"), b"p")
        os.chmod(disk("alice", "perm.txt"), 0o644)
        r = self.c.cmd("SITE CHMOD 600 perm.txt")
        self.assertEqual(r.code, 200, r)
        self.assertEqual(stat.S_IMODE(os.stat(disk("alice", "perm.txt")).st_mode), 0o600)
        self.assertEqual(self.c.cmd("SITE CHMOD 0755 perm.txt").code, 200)
        self.assertEqual(stat.S_IMODE(os.stat(disk("alice", "perm.txt")).st_mode), 0o755)
        self.assertEqual(self.c.cmd("SITE CHMOD 9999 perm.txt").code, 501)
        self.assertEqual(self.c.cmd("SITE CHMOD 644 missing").code, 550)
        self.assertEqual(stat.S_IMODE(os.stat(disk("alice", "perm.txt")).st_mode), 0o755)

    def test_stou_creates_a_unique_file_and_names_it(self):
        os.makedirs(disk("alice", "u"))
        write_file(disk("alice", "u", "taken.txt"), b"original")
        self.assertEqual(self.c.cmd("CWD u").code, 250)
        for arg in ["STOU", "STOU taken.txt"]:
            before = set(os.listdir(disk("alice", "u")))
            first, last = self.c.transfer_out(arg, b"unique content")
            self.assertIn(first.code, (125, 150), first)
            self.assertEqual(last.code, 226, last)
            new = set(os.listdir(disk("alice", "u"))) - before
            self.assertEqual(len(new), 1, "STOU must create exactly one new file: %r" % new)
            name = new.pop()
            self.assertEqual(read_file(disk("alice", "u", name)), b"unique content")
            replies = b"\n".join(first.lines + last.lines)
            self.assertIn(name.encode(), replies, "the reply must name the file")
        self.assertEqual(read_file(disk("alice", "u", "taken.txt")), b"original")

    def test_appe_appends_and_creates(self):
        write_file(disk("alice", "ap.txt"), b"abc")
        first, last = self.c.transfer_out("APPE ap.txt", b"def")
        self.assertEqual(last.code, 226, last)
        self.assertEqual(read_file(disk("alice", "ap.txt")), b"abcdef")
        first, last = self.c.transfer_out("APPE new-ap.txt", b"fresh")
        self.assertEqual(last.code, 226, last)
        self.assertEqual(read_file(disk("alice", "new-ap.txt")), b"fresh")

    def test_rest_then_stor_resumes(self):
        data = pattern(300000, 7)
        write_file(disk("alice", "resume.bin"), data[:100000] + b"garbage after the resume point")
        self.assertEqual(self.c.cmd("TYPE I").code, 200)
        self.assertEqual(self.c.cmd("REST 100000").code, 350)
        first, last = self.c.transfer_out("STOR resume.bin", data[100000:])
        self.assertEqual(last.code, 226, last)
        self.assertEqual(read_file(disk("alice", "resume.bin")), data)
        # REST applies to one transfer only: the next STOR truncates.
        first, last = self.c.transfer_out("STOR resume.bin", b"short")
        self.assertEqual(last.code, 226, last)
        self.assertEqual(read_file(disk("alice", "resume.bin")), b"short")

    def test_rest_then_retr(self):
        data = pattern(100000, 8)
        write_file(disk("alice", "part.bin"), data)
        self.assertEqual(self.c.cmd("TYPE I").code, 200)
        self.assertEqual(self.c.cmd("REST 54321").code, 350)
        first, got, last = self.c.transfer_in("RETR part.bin")
        self.assertEqual(last.code, 226, last)
        self.assertEqual(got, data[54321:])

    def test_ascii_mode_translates_line_ends(self):
        write_file(disk("alice", "lf.txt"), b"one\ntwo\n\nthree")
        self.assertEqual(self.c.cmd("TYPE A").code, 200)
        first, got, last = self.c.transfer_in("RETR lf.txt")
        self.assertEqual(last.code, 226, last)
        self.assertEqual(got, b"one\r\ntwo\r\n\r\nthree")
        first, last = self.c.transfer_out("STOR crlf.txt", b"a\r\nb\r\n\r\nc")
        self.assertEqual(last.code, 226, last)
        self.assertEqual(read_file(disk("alice", "crlf.txt")), b"a\nb\n\nc")
        self.assertEqual(self.c.cmd("TYPE I").code, 200)
        first, got, last = self.c.transfer_in("RETR lf.txt")
        self.assertEqual(got, b"one\ntwo\n\nthree")

    def test_dele_and_rename(self):
        write_file(disk("alice", "d.txt"), b"d")
        write_file(disk("alice", "r.txt"), b"r")
        self.assertEqual(self.c.cmd("DELE d.txt").code, 250)
        self.assertFalse(os.path.exists(disk("alice", "d.txt")))
        self.assertEqual(self.c.cmd("DELE d.txt").code, 550)
        self.assertEqual(self.c.cmd("RNFR r.txt").code, 350)
        self.assertEqual(self.c.cmd("RNTO r2.txt").code, 250)
        self.assertEqual(read_file(disk("alice", "r2.txt")), b"r")
        self.assertFalse(os.path.exists(disk("alice", "r.txt")))
        os.makedirs(disk("alice", "dd"))
        self.assertEqual(self.c.cmd("DELE dd").code, 550, "DELE of a directory")
        self.assertTrue(os.path.isdir(disk("alice", "dd")))

    def test_ftplib_storbinary_and_retrbinary(self):
        data = pattern(2 * 1024 * 1024 + 3, 9)
        f = ftp_login()
        try:
            f.storbinary("STOR big.bin", io.BytesIO(data))
            self.assertEqual(read_file(disk("alice", "big.bin")), data)
            chunks = []
            f.retrbinary("RETR big.bin", chunks.append)
            self.assertEqual(b"".join(chunks), data)
            f.set_pasv(False)  # active mode: PORT
            chunks = []
            f.retrbinary("RETR big.bin", chunks.append)
            self.assertEqual(b"".join(chunks), data)
            f.storbinary("STOR big2.bin", io.BytesIO(data[:1000]))
            self.assertEqual(read_file(disk("alice", "big2.bin")), data[:1000])
        finally:
            f.quit()


    def test_errors_on_the_wrong_kind_of_path(self):
        os.makedirs(disk("alice", "kind", "sub"))
        first, data, last = self.c.transfer_in("RETR kind")
        self.assertEqual(first.code, 550, first)
        first, last = self.c.transfer_out("APPE kind", b"x")
        self.assertEqual(first.code, 550, first)
        first, last = self.c.transfer_out("STOR no-such-dir/x.txt", b"x")
        self.assertEqual(first.code // 100, 5, first)
        self.assertFalse(os.path.exists(disk("alice", "no-such-dir")))
        # A directory cannot move into itself.
        self.assertEqual(self.c.cmd("RNFR kind").code, 350)
        self.assertEqual(self.c.cmd("RNTO kind/sub/inner").code // 100, 5)
        self.assertTrue(os.path.isdir(disk("alice", "kind", "sub")))
        self.assertFalse(os.path.exists(disk("alice", "kind", "sub", "inner")))


if __name__ == "__main__":
    unittest.main()
