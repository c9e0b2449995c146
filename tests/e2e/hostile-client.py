#!/usr/bin/env python3
"""Socket-level hostile clients for tests/e2e/63-hostile.bats.

  hostile-client.py unauth-bodies PORT N SIZE
      N connections at once, each declaring a SIZE-byte body without a
      credential. Prints how many were answered 401 before sending a body
      byte, then sends the bodies anyway (what the server reads of them).
  hostile-client.py slow-head PORT INTERVAL
      sends a request head one byte every INTERVAL seconds; prints the
      seconds until the server closed the connection.
  hostile-client.py slow-heads PORT N SECONDS
      holds N connections sending head bytes slowly for SECONDS; prints how
      many the server closed in that time.
  hostile-client.py raw PORT
      sends stdin as one request; prints the response.
Every mode is bounded in time; nothing is left open when it exits.
"""
import select
import socket
import sys
import time


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_some(s, timeout):
    s.settimeout(timeout)
    try:
        return s.recv(65536)
    except (socket.timeout, ConnectionError):
        return b""


def unauth_bodies(port, n, size):
    head = ("POST /v1/subnets HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size).encode()
    conns = [connect(port) for _ in range(n)]
    for s in conns:
        s.sendall(head)
    answered = 0
    for s in conns:
        if read_some(s, 5).startswith(b"HTTP/1.1 401"):
            answered += 1
    print(answered, flush=True)
    chunk = b" " * 65536
    for s in conns:
        s.setblocking(False)
    deadline = time.time() + 10
    sent = [0] * n
    while time.time() < deadline and any(x < size for x in sent):
        for i, s in enumerate(conns):
            if sent[i] >= size:
                continue
            try:
                sent[i] += s.send(chunk[: size - sent[i]])
            except BlockingIOError:
                pass
            except OSError:
                sent[i] = size  # closed by the server: nothing more goes in
    for s in conns:
        s.close()


HEAD = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 200 + b"\r\n\r\n"


def slow_head(port, interval):
    s = connect(port)
    start = time.time()
    for i in range(len(HEAD) - 1):  # never the whole head
        try:
            s.send(HEAD[i : i + 1])
        except OSError:
            break
        r, _, _ = select.select([s], [], [], interval)
        if r and not read_some(s, 0.1):
            break
        if time.time() - start > 60:
            break
    print("%.1f" % (time.time() - start))
    s.close()


def slow_heads(port, n, seconds):
    conns = []
    for _ in range(n):
        try:
            conns.append(connect(port))
        except OSError:
            break
    closed = set()
    start, i = time.time(), 0
    while time.time() - start < seconds and len(closed) < len(conns):
        for k, s in enumerate(conns):
            if k in closed:
                continue
            try:
                s.send(HEAD[i % (len(HEAD) - 1) : i % (len(HEAD) - 1) + 1])
            except OSError:
                closed.add(k)
        r, _, _ = select.select([s for k, s in enumerate(conns) if k not in closed], [], [], 0.5)
        for s in r:
            if not read_some(s, 0.1):
                closed.add(conns.index(s))
        i += 1
    print(len(closed), flush=True)
    for s in conns:
        s.close()


def raw(port):
    s = connect(port)
    s.sendall(sys.stdin.buffer.read())
    out = b""
    while True:
        d = read_some(s, 3)
        if not d:
            break
        out += d
    sys.stdout.write(out.decode(errors="replace"))
    s.close()


def main():
    mode, port = sys.argv[1], int(sys.argv[2])
    if mode == "unauth-bodies":
        unauth_bodies(port, int(sys.argv[3]), int(sys.argv[4]))
    elif mode == "slow-head":
        slow_head(port, float(sys.argv[3]))
    elif mode == "slow-heads":
        slow_heads(port, int(sys.argv[3]), float(sys.argv[4]))
    elif mode == "raw":
        raw(port)
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
