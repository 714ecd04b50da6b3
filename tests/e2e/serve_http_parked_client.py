"""Client of tests/e2e/serve_http_parked.sh: the HTTP frontend parks a connection whose infer waits
in the batching queue, so one event-loop thread carries many such connections at once.

  serve_http_parked_client.py burst URL N     N requests at once, one row each (user ids 1..N),
                                              then the N rows in one request: each answer 200,
                                              and each request's score the bits of its row in
                                              the big request's answer, also padded to 100 KiB
  serve_http_parked_client.py wait URL N OUT  N one-row requests at once; writes each answer's
                                              status to OUT, a line each (SIGTERM comes meanwhile)
  serve_http_parked_client.py trickle URL     a client sending its body a byte every 0.3 s while
                                              another request is answered; the server drops the
                                              trickler

Prints ok:/FAIL: lines; only the Python standard library.
"""
import http.client
import json
import socket
import sys
import threading
import time
import urllib.parse


def body(users):
    n = len(users)
    col = lambda name, dt, vals: {"name": name, "datatype": dt, "shape": [n, 1], "data": vals}
    return json.dumps({"inputs": [
        col("user_id", "INT32", users),
        col("item_id", "INT32", [(u * 7) % 50 + 1 for u in users]),
        col("video_category", "INT8", [u % 3 for u in users]),
        col("gender", "INT8", [u % 3 for u in users]),
        col("age", "INT8", [u % 7 + 1 for u in users])]})


def post(url, text, timeout=60):
    u = urllib.parse.urlparse(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        c.request("POST", "/v2/models/dlrm/infer", text, {"Content-Type": "application/json"})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def at_once(url, bodies):
    answers = [None] * len(bodies)
    go = threading.Barrier(len(bodies))

    def one(i):
        go.wait()
        try:
            answers[i] = post(url, bodies[i])
        except Exception as e:  # noqa: BLE001 - reported as a failed answer
            answers[i] = (0, str(e).encode())

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def scores(raw):
    return json.loads(raw)["outputs"][0]["data"]


def check(ok, what):
    print(("ok: " if ok else "FAIL: ") + what, flush=True)


def burst(url, n):
    answers = at_once(url, [body([u]) for u in range(1, n + 1)])
    bad = [i for i, (st, _) in enumerate(answers) if st != 200]
    check(not bad, f"{n} requests at once are each answered 200" + (f" (not: {answers[bad[0]]})" if bad else ""))
    if bad:
        return
    st, raw = post(url, body(list(range(1, n + 1))))
    check(st == 200, f"the {n} rows in one request are answered 200")
    whole = scores(raw)
    same = all(scores(raw_i) == [whole[i]] for i, (_, raw_i) in enumerate(answers))
    check(same, "each parked request's score is its row's in the one big request (the same bits)")
    # The same request padded past the first 64 KiB block of the body's buffer: it grows as it arrives.
    st, padded = post(url, body(list(range(1, n + 1))) + " " * (100 << 10))
    check(st == 200 and scores(padded) == whole, "a 100 KiB body (grown past its first block) gives the same answer")


def wait(url, n, out):
    answers = at_once(url, [body([u]) for u in range(1, n + 1)])
    with open(out, "w") as f:
        for st, raw in answers:
            f.write(f"{st} {raw[:200]!r}\n")


def trickle(url):
    u = urllib.parse.urlparse(url)
    s = socket.create_connection((u.hostname, u.port))
    s.settimeout(0.3)
    dropped = threading.Event()

    def drip():   # the headers at once, then the body a byte at a time
        s.sendall(b"POST /v2/models/dlrm/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
        for byte in b" " * 100:
            try:
                s.sendall(bytes([byte]))
                if s.recv(1024) == b"":
                    break
            except socket.timeout:
                continue
            except OSError:
                break
        dropped.set()

    t = threading.Thread(target=drip)
    t.start()
    time.sleep(0.5)
    st, _ = post(url, body(list(range(1, 17))))
    check(st == 200, "a request is answered while a client trickles bytes on the same thread")
    t.join(timeout=30)
    check(dropped.is_set() and not t.is_alive(), "the trickling client is dropped at --read-timeout-secs")
    s.close()


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "burst":
        burst(sys.argv[2], int(sys.argv[3]))
    elif cmd == "wait":
        wait(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif cmd == "trickle":
        trickle(sys.argv[2])
    else:
        sys.exit(f"unknown command {cmd}")
