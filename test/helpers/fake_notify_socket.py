"""A fake systemd notify socket: binds an AF_UNIX SOCK_DGRAM socket (Node cannot) and
prints every datagram as one JSON line {"t": monotonic seconds, "msg": text}.
File descriptors passed along (sd_notify_barrier's pipe) are closed at once, which is
what tells a waiting systemd-notify that the message was processed. Exits when its stdin
closes, so it never outlives the test process (even one killed by a timeout)."""
import array
import json
import os
import socket
import sys
import threading
import time


def watch_stdin():
    try:
        while sys.stdin.buffer.read(1024):
            pass
    except Exception:  # pylint: disable=broad-except
        pass
    os._exit(0)  # pylint: disable=protected-access


threading.Thread(target=watch_stdin, daemon=True).start()

path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
print(json.dumps({"t": time.monotonic(), "msg": "LISTENING"}), flush=True)
while True:
    data, anc, _flags, _addr = s.recvmsg(65536, socket.CMSG_SPACE(64 * 4))
    fds = array.array("i")
    for level, kind, cdata in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(cdata[: len(cdata) - (len(cdata) % fds.itemsize)])
    # Reported before the barrier fds are closed: "processed" means recorded.
    print(json.dumps({"t": time.monotonic(), "msg": data.decode(errors="replace"), "fds": len(fds)}), flush=True)
    for fd in fds:
        os.close(fd)
