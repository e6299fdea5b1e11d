#!/usr/bin/env python3
"""Hostile clients against a release build on loopback (issue 12, items 1-4), standard library only.

    abuse.py BINARY [--nofile 512] [--idle 600] [--stalled 8] [--junk 8] [--seconds 15]

Starts `BINARY serve` on a fresh data directory under `prlimit --nofile=N:N`, makes a learner with a
standing grant (for a real withdrawal link) and tutor tokens, then runs four phases, each for
--seconds while the withdrawal page is fetched about ten times a second, each fetch on a new
connection from its own loopback address (127.0.x.y: the page allows 20 requests a minute per
address, and a parent has an address of their own):

  baseline  nothing else
  idle      --idle sockets that send half a request header and wait (reopened when closed)
  stalled   --stalled uploads, one per tutor token, that send 4 KiB of a 20 MB body and wait
            (restarted when closed)
  junk      --junk clients at once, half sending unauthenticated 10 MiB learner imports that stop
            one byte short, half sending multipart uploads of 30 MB of `tags` fields (comma lists of
            one-letter tags, about 15 million in all)
            (each restarted when answered or closed)

For each it prints the server's peak resident memory during the phase (VmRSS sampled every 50 ms),
the withdrawal page's p50/p99/max and how many fetches failed or took over a second, and whether an
ordinary upload of another tutor went through meanwhile.
"""

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

HOST = "127.0.0.1"


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def request(port, method, path, body=None, headers=None, timeout=30):
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, data


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Sampler(threading.Thread):
    """Peak VmRSS of the server since the last reset."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.lock = pid, 0, threading.Lock()

    def run(self):
        while True:
            value = rss_kib(self.pid)
            with self.lock:
                self.peak = max(self.peak, value)
            time.sleep(0.05)

    def take(self):
        with self.lock:
            peak, self.peak = self.peak, rss_kib(self.pid)
        return peak


class Probe(threading.Thread):
    """Fetches the withdrawal page about ten times a second, from a fresh loopback address each time."""

    def __init__(self, port, path):
        super().__init__(daemon=True)
        self.port, self.path = port, path
        self.times, self.failures, self.lock = [], 0, threading.Lock()
        self.running = threading.Event()
        self.address = 0

    def next_source(self):
        self.address += 1
        n = self.address % 60000
        return f"127.0.{1 + n // 250}.{1 + n % 250}"

    def fetch(self):
        started = time.monotonic()
        try:
            s = socket.create_connection((HOST, self.port), timeout=5, source_address=(self.next_source(), 0))
            s.sendall(f"GET {self.path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            s.close()
            ok = data.startswith(b"HTTP/1.1 200")
        except OSError:
            ok = False
        return ok, time.monotonic() - started

    def run(self):
        while True:
            self.running.wait()
            ok, elapsed = self.fetch()
            with self.lock:
                if ok:
                    self.times.append(elapsed)
                else:
                    self.failures += 1
            time.sleep(max(0.0, 0.1 - elapsed))

    def take(self):
        with self.lock:
            times, failures = sorted(self.times), self.failures
            self.times, self.failures = [], 0
        return times, failures


class Attack:
    """Keeps `count` clients of one kind going until stopped."""

    def __init__(self, count, start):
        self.count, self.start, self.stop = count, start, threading.Event()
        self.threads = []

    def __enter__(self):
        for i in range(self.count):
            t = threading.Thread(target=self.loop, args=(i,), daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def loop(self, i):
        while not self.stop.is_set():
            try:
                self.start(i, self.stop)
            except OSError:
                pass
            # A pause before the next attempt, so 600 Python threads do not starve the probe's own
            # thread of the interpreter lock and the figures measure the server, not this script.
            time.sleep(0.1)

    def __exit__(self, *exc):
        self.stop.set()


def hold(s, stop):
    """Waits until the server closes `s` or the attack stops."""
    s.settimeout(0.2)
    try:
        while not stop.is_set():
            try:
                if not s.recv(65536):
                    return
            except socket.timeout:
                continue
    finally:
        s.close()


def idle_client(port):
    def start(i, stop):
        s = socket.create_connection((HOST, port), timeout=5)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: bench\r\nX-Waiting: ")
        hold(s, stop)

    return start


def stalled_upload(port, tokens):
    def start(i, stop):
        s = socket.create_connection((HOST, port), timeout=5)
        s.sendall(
            (
                f"POST /api/v1/photos HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {tokens[i]}\r\n"
                "Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: 20000000\r\n\r\n"
                '--XyZ\r\nContent-Disposition: form-data; name="file"; filename="x.jpg"\r\n\r\n'
            ).encode()
            + b"\xff" * 4096
        )
        hold(s, stop)

    return start


IMPORT_BYTES = 10 << 20
# Fields just under the upload form's 8000-byte field cap, each a comma list of 4000 one-letter tags:
# about 15 million tags in 30 MB, the shape of issue 12's item 3.
TAG_FIELD = b'--XyZ\r\nContent-Disposition: form-data; name="tags"\r\n\r\n' + b"a," * 3999 + b"a\r\n"
TAGS_BODY = TAG_FIELD * (30_000_000 // len(TAG_FIELD)) + b"--XyZ--\r\n"


def junk_client(port, tokens):
    def start(i, stop):
        s = socket.create_connection((HOST, port), timeout=30)
        if i % 2 == 0:
            # An unauthenticated import that stops one byte short of what it announced.
            s.sendall(
                f"POST /api/v1/learners/import HTTP/1.1\r\nHost: bench\r\nContent-Type: text/csv\r\n"
                f"Content-Length: {IMPORT_BYTES}\r\n\r\n".encode()
            )
            chunk = b"a," * 32768
            left = IMPORT_BYTES - 1
            try:
                while left > 0 and not stop.is_set():
                    piece = chunk[: min(len(chunk), left)]
                    s.sendall(piece)
                    left -= len(piece)
            except OSError:
                s.close()
                return
        else:
            s.sendall(
                (
                    f"POST /api/v1/photos HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {tokens[i]}\r\n"
                    f"Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: {len(TAGS_BODY)}\r\n\r\n"
                ).encode()
            )
            try:
                view = memoryview(TAGS_BODY)
                for at in range(0, len(view), 1 << 20):
                    if stop.is_set():
                        break
                    s.sendall(view[at : at + (1 << 20)])
            except OSError:
                s.close()
                return
        hold(s, stop)

    return start


def upload_probe(port, token, photo):
    """An ordinary upload of another tutor: its status and time."""
    if photo is None:
        return "no photo to upload"
    boundary = "Pr0be"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="purposes"\r\n\r\nwebsite\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="p.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode() + photo + f"\r\n--{boundary}--\r\n".encode()
    started = time.monotonic()
    try:
        status, _ = request(
            port,
            "POST",
            "/api/v1/photos",
            body,
            {"Authorization": f"Bearer {token}", "Content-Type": f"multipart/form-data; boundary={boundary}"},
            timeout=60,
        )
    except OSError as e:
        return f"failed ({e.__class__.__name__}) after {time.monotonic() - started:.1f} s"
    return f"{status} in {time.monotonic() - started:.2f} s"


def percentile(times, p):
    return times[min(len(times) - 1, round((len(times) - 1) * p))] if times else float("nan")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("--nofile", type=int, default=512)
    parser.add_argument("--idle", type=int, default=600)
    parser.add_argument("--stalled", type=int, default=8)
    parser.add_argument("--junk", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--photo", default=os.path.join(os.path.dirname(__file__), "../../shared/corpus/jpg/gps/DSCN0027.jpg"))
    args = parser.parse_args()

    data = tempfile.mkdtemp(prefix="cg-abuse-")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not (k.startswith("CONSENTGATE_") or k == "DATABASE_URL")}
    env["CONSENTGATE_LOG"] = "error"
    # Metrics on a port of their own choosing, so a second run (or another server) cannot clash.
    env["CONSENTGATE_METRICS_LISTEN"] = "127.0.0.1:0"
    server = subprocess.Popen(
        ["prlimit", f"--nofile={args.nofile}:{args.nofile}", "--", args.binary, "--data", data, "serve",
         "--listen", f"{HOST}:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, text=True,
    )
    try:
        # The first admin token is written to DATA/admin-token (stdout here is a pipe, not a terminal).
        admin = None
        token_file = os.path.join(data, "admin-token")
        for _ in range(400):
            if os.path.exists(token_file) and open(token_file).read().strip():
                admin = open(token_file).read().strip()
                break
            time.sleep(0.05)
        for _ in range(200):
            try:
                socket.create_connection((HOST, port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        auth = {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"}
        status, body = request(port, "POST", "/api/v1/learners", json.dumps(
            {"given_name": "Bench", "family_name": "Learner", "date_of_birth": "1990-01-01"}), auth)
        assert status == 201, (status, body)
        learner = json.loads(body)["id"]
        status, body = request(port, "POST", f"/api/v1/learners/{learner}/consents", json.dumps({
            "kind": "granted", "purposes": ["website"], "given_by": "learner", "form_version": "1",
            "form_text": "bench", "method": "paper_form", "evidence": "bench"}), auth)
        assert status == 201, (status, body)
        withdraw_path = "/w/" + json.loads(body)["withdraw_url"].rsplit("/w/", 1)[1]
        tokens = []
        for i in range(max(args.stalled, args.junk) + 1):
            out = subprocess.run([args.binary, "--data", data, "token", "create", "--role", "tutor", "--name",
                                  f"bench {i}"], capture_output=True, text=True, env=env, check=True)
            tokens.append(out.stdout.strip().splitlines()[-1])
        prober_token = tokens.pop()
        try:
            with open(args.photo, "rb") as f:
                photo = f.read()
        except OSError:
            photo = None

        sampler = Sampler(server.pid)
        sampler.start()
        probe = Probe(port, withdraw_path)
        probe.start()
        phases = [
            ("baseline", None),
            (f"{args.idle} idle half-header connections", Attack(args.idle, idle_client(port))),
            (f"{args.stalled} stalled uploads", Attack(args.stalled, stalled_upload(port, tokens))),
            (f"{args.junk} junk bodies (imports and tag floods)", Attack(args.junk, junk_client(port, tokens))),
        ]
        print(f"consentgate serve under prlimit --nofile={args.nofile}:{args.nofile}; {args.seconds:.0f} s per phase")
        for name, attack in phases:
            sampler.take()
            probe.take()
            if attack:
                attack.__enter__()
            probe.running.set()
            time.sleep(args.seconds / 2)
            upload = upload_probe(port, prober_token, photo)
            photo = photo + b"\0" if photo else photo  # distinct bytes, so no upload is a duplicate
            time.sleep(args.seconds / 2)
            probe.running.clear()
            times, failures = probe.take()
            peak = sampler.take()
            if attack:
                attack.__exit__(None, None, None)
            slow = sum(1 for t in times if t >= 1.0)
            print(
                f"{name:45} peak RSS {peak / 1024:6.1f} MiB; withdrawal page p50 {percentile(times, 0.5) * 1000:6.1f} ms, "
                f"p99 {percentile(times, 0.99) * 1000:7.1f} ms, max {(times[-1] if times else float('nan')) * 1000:7.1f} ms "
                f"({len(times)} answered, {slow} over 1 s, {failures} failed); an upload meanwhile: {upload}",
                flush=True,
            )
            time.sleep(1)
        print(f"server alive at the end: {server.poll() is None}")
    finally:
        server.kill()
        server.wait()
        subprocess.run(["rm", "-rf", data])


if __name__ == "__main__":
    sys.exit(main())
