#!/usr/bin/env python3
"""What one LIST, NLST and MLSD of a big directory costs a server: its peak RSS growth and the
time per listing. A measurement to run by hand, not a test (it asserts nothing).

    listing_memory.py SERVER_BINARY ROOT DIR [--make N]

Starts a fresh SERVER_BINARY (a thinftp binary) on ROOT for each command, logs in, lists a
small directory once (so that threads and buffers exist), then reads VmHWM (the peak RSS) from
/proc before and after one listing of ROOT/DIR: the growth is what that listing cost at its
peak. The time runs from sending the command to the 226, the data read in 1 MiB chunks and
thrown away. `--make N` first creates DIR with N empty files (if it is not there yet).
"""

import ftplib
import os
import re
import socket
import subprocess
import sys
import time


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def make_dir(path, n):
    if os.path.isdir(path):
        return
    os.mkdir(path)
    for i in range(n):
        os.close(os.open(os.path.join(path, f"entry-{i:07d}"), os.O_CREAT | os.O_WRONLY, 0o644))


def start(binary, root):
    proc = subprocess.Popen(
        [binary, "--root", root, "--listen", "127.0.0.1:0", "--user", "u:p"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "RUST_LOG": "warn,thinftp_host::server=info"},
    )
    line = proc.stdout.readline()
    port = int(re.search(r"127\.0\.0\.1:(\d+)", line).group(1))
    return proc, port


def one(binary, root, directory, command):
    proc, port = start(binary, root)
    try:
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", port, timeout=600)
        ftp.login("u", "p")
        ftp.retrlines("LIST")  # the small root: threads and buffers exist now
        before = status_kib(proc.pid, "VmHWM")
        t0 = time.monotonic()
        conn = ftp.transfercmd(f"{command} {directory}")
        total = 0
        while True:
            chunk = conn.recv(1 << 20)
            if not chunk:
                break
            total += len(chunk)
        conn.close()
        ftp.voidresp()
        took = time.monotonic() - t0
        after = status_kib(proc.pid, "VmHWM")
        ftp.quit()
        return after - before, took, total
    finally:
        proc.terminate()
        proc.wait()


def main():
    binary, root, directory = sys.argv[1:4]
    if "--make" in sys.argv:
        make_dir(os.path.join(root, directory), int(sys.argv[sys.argv.index("--make") + 1]))
    for command in ("LIST", "NLST", "MLSD"):
        grew, took, total = one(binary, root, directory, command)
        print(
            f"{os.path.basename(binary)} {command}: peak RSS +{grew / 1024:.1f} MiB, "
            f"{took * 1000:.0f} ms, {total} bytes",
            flush=True,
        )


if __name__ == "__main__":
    main()
