"""aioftp against oxftpd: log in, upload, list, download, compare SHA-256.

Usage: aioftp_round_trip.py MODE PORT USER PASSWORD CA_FILE WORK_DIR
MODE is plain, explicit (AUTH TLS; aioftp then starts each data
connection's TLS handshake before it sends the command) or implicit.
Prints one line per step; exits non-zero on any failure.
"""

import asyncio
import hashlib
import os
import ssl
import sys

import aioftp


async def main(mode, port, user, password, ca_file, work):
    context = None
    if mode != "plain":
        context = ssl.create_default_context(cafile=ca_file)
    client = aioftp.Client(ssl=context if mode == "implicit" else None, socket_timeout=20, connection_timeout=20)
    await client.connect("127.0.0.1", port)
    if mode == "explicit":
        await client.upgrade_to_tls(context)
    await client.login(user, password)
    payload = os.urandom(3 * 1024 * 1024 + 17)
    source = os.path.join(work, "source.bin")
    with open(source, "wb") as f:
        f.write(payload)
    remote_dir = f"aio-{mode}"
    await client.make_directory(remote_dir)
    await client.upload(source, f"{remote_dir}/payload.bin", write_into=True)
    print("uploaded", flush=True)
    names = [str(path) for path, info in await client.list(remote_dir)]
    print("listed", names, flush=True)
    assert any(name.endswith("payload.bin") for name in names), names
    target = os.path.join(work, "downloaded.bin")
    await client.download(f"{remote_dir}/payload.bin", target, write_into=True)
    with open(target, "rb") as f:
        got = f.read()
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(payload).hexdigest(), "download differs"
    print("downloaded", hashlib.sha256(got).hexdigest(), flush=True)
    await client.quit()


if __name__ == "__main__":
    mode, port, user, password, ca_file, work = sys.argv[1:7]
    asyncio.run(asyncio.wait_for(main(mode, int(port), user, password, ca_file, work), 90))
