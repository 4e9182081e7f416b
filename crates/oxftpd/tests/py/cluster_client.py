"""One FTP operation with Python's ftplib, for the cluster test (e2e_cluster.rs).

    cluster_client.py HOST PORT SOURCE_IP USER PASSWORD put LOCAL TMP FINAL
    cluster_client.py HOST PORT SOURCE_IP USER PASSWORD get REMOTE LOCAL
    cluster_client.py HOST PORT SOURCE_IP USER PASSWORD nlst DIR

put stores LOCAL as TMP, then renames it to FINAL; nlst prints one name per
line. Exits 0 on success, 1 (with the error on stderr) otherwise. Passive
mode (PASV) from SOURCE_IP, as a client behind the balancer would.
"""

import ftplib
import os
import sys


def main():
    host, port, source, user, password, op, *args = sys.argv[1:]
    ftp = ftplib.FTP(timeout=60, source_address=(source, 0))
    ftp.connect(host, int(port))
    ftp.login(user, password)
    if op == "put":
        local, tmp, final = args
        directory = os.path.dirname(final)
        try:
            ftp.mkd(directory)
        except ftplib.error_perm:
            pass  # it exists
        with open(local, "rb") as f:
            ftp.storbinary("STOR " + tmp, f, blocksize=256 * 1024)
        ftp.rename(tmp, final)
    elif op == "get":
        remote, local = args
        with open(local, "wb") as f:
            ftp.retrbinary("RETR " + remote, f.write, blocksize=256 * 1024)
    elif op == "nlst":
        (directory,) = args
        for name in ftp.nlst(directory):
            print(os.path.basename(name))
    else:
        raise SystemExit("unknown op " + op)
    ftp.quit()


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # report any failure as an exit code for the test
        print(f"{type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
