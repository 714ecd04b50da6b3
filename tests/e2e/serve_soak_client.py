"""The load/unload half of tests/e2e/serve_soak.sh: CLIENTS threads send one fixed infer request
each in a loop (python3-requests, one keep-alive session per thread) while the main thread unloads
and reloads the model CYCLES times (explicit mode). Prints one "ok: ..." or "FAIL: ..." line a
check; the shell counts them.

    serve_soak_client.py URL MODEL BODY.json CLIENTS CYCLES

Every answer must be 200 with the scores of the first answer (bit for bit: the same weights are
reloaded), or 503 naming the model while it is not ready; anything else (another status, a
dropped connection, other scores) is a failure. Each cycle waits until a client has been refused
(the model was out) and then answered again (it is back), so the switch is seen from both sides.
"""
import json
import sys
import threading
import time

import requests

url, model, body_path, clients, cycles = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
body = open(body_path, "rb").read()
infer = f"{url}/v2/models/{model}/infer"
headers = {"Content-Type": "application/json"}
failures = 0


def check(cond, what, detail=""):
    global failures
    if not cond:
        failures += 1
    print(f"{'ok' if cond else 'FAIL'}: {what} {detail if not cond else ''}"[:900].rstrip(), flush=True)


def scores_of(r):
    return r.json()["outputs"][0]["data"]


first = requests.post(infer, data=body, headers=headers, timeout=30)
check(first.status_code == 200, "the model answers before the cycles", first.text[:300])
expected = scores_of(first) if first.status_code == 200 else None

lock = threading.Lock()
counts = {"ok": 0, "unavailable": 0}
bad = []
stop = threading.Event()
events = {"refused": threading.Event(), "served": threading.Event()}


def client():
    s = requests.Session()
    while not stop.is_set():
        try:
            r = s.post(infer, data=body, headers=headers, timeout=30)
        except requests.RequestException as e:
            with lock:
                bad.append(f"connection: {e}")
            return
        with lock:
            if r.status_code == 200 and scores_of(r) == expected:
                counts["ok"] += 1
                events["served"].set()
            elif r.status_code == 503 and model in r.json().get("error", ""):
                counts["unavailable"] += 1
                events["refused"].set()
            else:
                bad.append(f"{r.status_code}: {r.text[:200]}")


threads = [threading.Thread(target=client) for _ in range(clients)]
for t in threads:
    t.start()
control = requests.Session()
switched = 0
for cycle in range(cycles):
    events["refused"].clear()
    r = control.post(f"{url}/v2/repository/models/{model}/unload", timeout=60)
    if r.status_code != 200:
        bad.append(f"unload {cycle}: {r.status_code} {r.text[:200]}")
        break
    refused = events["refused"].wait(10)
    events["served"].clear()
    r = control.post(f"{url}/v2/repository/models/{model}/load", timeout=60)
    if r.status_code != 200:
        bad.append(f"load {cycle}: {r.status_code} {r.text[:200]}")
        break
    if refused and events["served"].wait(10):
        switched += 1
stop.set()
for t in threads:
    t.join()
check(not bad, f"{clients} clients through {cycles} unload/load cycles: every answer 200 with the first scores, "
      f"or 503 naming '{model}' while it was out ({counts['ok']} answered, {counts['unavailable']} refused)",
      "; ".join(bad[:3]))
check(switched == cycles, f"every cycle was seen by the clients: refused while out, answered once back "
      f"({switched} of {cycles})")
r = requests.post(infer, data=body, headers=headers, timeout=30)
check(r.status_code == 200 and scores_of(r) == expected, "after the cycles the model answers with the same scores")
sys.exit(1 if failures else 0)
