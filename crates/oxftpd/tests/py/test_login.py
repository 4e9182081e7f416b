"""Login sequence replies (RFC 959 4.2 / 5.4): USER, PASS, REIN, HOST, anonymous."""

import unittest

from oxftp_helpers import PASSWORD, Raw, disk, write_file


class LoginTest(unittest.TestCase):
    def test_greeting_is_220(self):
        with Raw() as c:
            self.assertEqual(c.greeting.code, 220, c.greeting)

    def test_user_then_good_password(self):
        with Raw() as c:
            self.assertEqual(c.cmd("USER alice").code, 331)
            self.assertEqual(c.cmd("PASS " + PASSWORD).code, 230)
            r = c.cmd("PWD")
            self.assertEqual(r.code, 257, r)
            self.assertIn(b'"/"', r.lines[0])

    def test_wrong_password_530_then_retry_works(self):
        with Raw() as c:
            self.assertEqual(c.cmd("USER alice").code, 331)
            self.assertEqual(c.cmd("PASS not-the-password").code, 530)
            # Still not logged in.
            self.assertEqual(c.cmd("PWD").code, 530)
            self.assertEqual(c.cmd("USER alice").code, 331)
            self.assertEqual(c.cmd("PASS " + PASSWORD).code, 230)

    def test_unknown_user_looks_like_a_wrong_password(self):
        with Raw() as c:
            # 331 for any name: no user enumeration at USER.
            self.assertEqual(c.cmd("USER nobody-here").code, 331)
            self.assertEqual(c.cmd("PASS whatever").code, 530)

    def test_pass_without_user_is_503(self):
        with Raw() as c:
            self.assertEqual(c.cmd("PASS " + PASSWORD).code, 503)

    def test_commands_before_login_are_530(self):
        with Raw() as c:
            for cmd in ["PWD", "CWD /", "LIST", "RETR x", "STOR x", "MKD d", "DELE x", "SIZE x"]:
                r = c.cmd(cmd)
                self.assertEqual(r.code, 530, "%s before login: %r" % (cmd, r))
            # Session-free commands still work.
            self.assertEqual(c.cmd("NOOP").code, 200)
            self.assertEqual(c.cmd("SYST").code, 215)

    def test_rein_resets_the_session(self):
        with Raw() as c:
            c.login()
            self.assertEqual(c.cmd("CWD /").code, 250)
            r = c.cmd("REIN")
            self.assertEqual(r.code, 220, r)
            self.assertEqual(c.cmd("PWD").code, 530, "REIN must log the user out")
            c.login()
            self.assertEqual(c.cmd("PWD").code, 257)

    def test_host_before_login(self):
        with Raw() as c:
            r = c.cmd("HOST 127.0.0.1")
            self.assertEqual(r.code, 220, r)
            c.login()
            self.assertEqual(c.cmd("NOOP").code, 200)

    def test_anonymous_with_any_password(self):
        write_file(disk("pub", "readme.txt"), b"hello\n")
        for user, password in [("anonymous", "guest@example.com"), ("ftp", "x"), ("ANONYMOUS", "")]:
            with Raw() as c:
                self.assertEqual(c.cmd("USER " + user).code, 331)
                r = c.cmd("PASS " + password if password else "PASS")
                self.assertEqual(r.code, 230, "%s/%r: %r" % (user, password, r))
                self.assertEqual(c.cmd("TYPE I").code, 200)
                self.assertEqual(c.cmd("SIZE readme.txt").lines[0], b"213 6")

    def test_guest_and_read_only_accounts_log_in(self):
        for user in ["gina", "ro"]:
            with Raw() as c:
                c.login(user)
                self.assertEqual(c.cmd("PWD").code, 257)

    def test_quit_is_221_and_closes(self):
        with Raw() as c:
            c.login()
            self.assertEqual(c.cmd("QUIT").code, 221)
            self.assertEqual(c.sock.recv(10), b"")


if __name__ == "__main__":
    unittest.main()
