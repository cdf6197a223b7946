#!/usr/bin/env python3
"""Soak load for a running patd (driven by scripts/soak.sh; standard library only).

Several clients, each logged in as a member (two clients per user, so creates contend
for the 5-active-token limit), run a mix of create / revoke / regenerate / delete /
list / use-a-live-token / present-a-dead-secret and re-login once a minute. Every
answer is checked against the statuses that operation may answer; anything else (a
5xx, a live token refused, a dead secret accepted, a transport error) is an unexpected
response. Every `interval` seconds patd's VmRSS (and of it RssAnon, the heap and
stacks), thread count, open fds and the request count are sampled. At the end: a table and a verdict (memory flat, no unexpected responses, no
fd growth); the exit status is 0 only when all three hold.
"""

import argparse
import http.client
import json
import os
import random
import sys
import threading
import time

LIVE_OPS = {
    # op: expected statuses
    "create": {201, 409},
    "revoke": {200},
    "regenerate": {200},
    "delete": {204},
    "list": {200},
    "me": {200},
    "auth_check": {204},
    "dead_secret": {401},
    "login": {200},
    "logout": {204},
}


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = 0
        self.by_op = {op: 0 for op in LIVE_OPS}
        self.unexpected = 0
        self.examples = []

    def answered(self, op, status, body):
        with self.lock:
            self.requests += 1
            self.by_op[op] += 1
            if status not in LIVE_OPS[op]:
                self.unexpected += 1
                if len(self.examples) < 10:
                    self.examples.append(f"{op}: {status} {body[:200]!r}")

    def failed(self, op, error):
        with self.lock:
            self.requests += 1
            self.unexpected += 1
            if len(self.examples) < 10:
                self.examples.append(f"{op}: transport error {error!r}")


class Client:
    """One keep-alive connection, a session, and the tokens this client alone changes."""

    def __init__(self, host, port, email, password, stats, rng):
        self.host, self.port = host, port
        self.email, self.password = email, password
        self.stats, self.rng = stats, rng
        self.conn = None
        self.cookie = self.csrf = None
        self.live = {}  # token id -> secret
        self.dead_secrets = []
        self.revoked_ids = []
        self.names = 0

    def request(self, op, method, path, body=None, bearer=None, session=True):
        headers = {}
        if session and self.cookie:
            headers["Cookie"] = self.cookie
            headers["X-CSRF-Token"] = self.csrf
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        data = None
        if method != "GET":
            headers["Content-Type"] = "application/json"
            data = b"" if body is None else json.dumps(body).encode()
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            self.conn.request(method, path, body=data, headers=headers)
            response = self.conn.getresponse()
            raw = response.read()
            set_cookie = response.getheader("Set-Cookie")
        except (OSError, http.client.HTTPException) as error:
            if self.conn is not None:
                self.conn.close()
            self.conn = None
            self.stats.failed(op, error)
            return None, None, None
        self.stats.answered(op, response.status, raw)
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        return response.status, parsed, set_cookie

    def login(self):
        body = {"email": self.email, "password": self.password}
        status, parsed, cookie = self.request("login", "POST", "/api/v1/session", body, session=False)
        if status == 200 and cookie:
            self.cookie = cookie.split(";")[0]
            self.csrf = parsed["csrf_token"]

    def relogin(self):
        self.request("logout", "DELETE", "/api/v1/session")
        self.cookie = self.csrf = None
        self.login()

    def create(self):
        self.names += 1
        body = {"name": f"soak-{id(self)}-{self.names}", "expires_in_days": 30, "scopes": ["jobs:list"]}
        status, parsed, _ = self.request("create", "POST", "/api/v1/tokens", body)
        if status == 201:
            self.live[parsed["token"]["id"]] = parsed["secret"]

    def revoke(self):
        if not self.live:
            return self.create()
        token_id = self.rng.choice(list(self.live))
        status, _, _ = self.request("revoke", "POST", f"/api/v1/tokens/{token_id}/revoke")
        if status == 200:
            self.dead_secrets.append(self.live.pop(token_id))
            self.revoked_ids.append(token_id)

    def regenerate(self):
        if not self.live:
            return self.create()
        token_id = self.rng.choice(list(self.live))
        body = {"expires_in_days": 30}
        status, parsed, _ = self.request("regenerate", "POST", f"/api/v1/tokens/{token_id}/regenerate", body)
        if status == 200:
            self.dead_secrets.append(self.live[token_id])
            self.live[token_id] = parsed["secret"]

    def delete(self):
        # Deleting revoked tokens keeps the database from growing without bound.
        if not self.revoked_ids:
            return self.revoke()
        token_id = self.revoked_ids.pop(0)
        self.request("delete", "DELETE", f"/api/v1/tokens/{token_id}")

    def use(self):
        if not self.live:
            return self.create()
        secret = self.rng.choice(list(self.live.values()))
        if self.rng.random() < 0.5:
            self.request("me", "GET", "/api/v1/me", bearer=secret, session=False)
        else:
            path = "/api/v1/auth/check?resource=jobs&operation=list"
            self.request("auth_check", "GET", path, bearer=secret, session=False)

    def present_dead(self):
        if not self.dead_secrets:
            return self.use()
        self.dead_secrets = self.dead_secrets[-50:]
        secret = self.rng.choice(self.dead_secrets)
        self.request("dead_secret", "GET", "/api/v1/me", bearer=secret, session=False)

    def run(self, deadline):
        self.login()
        next_login = time.monotonic() + 60
        while time.monotonic() < deadline:
            if time.monotonic() >= next_login or self.cookie is None:
                self.relogin()
                next_login = time.monotonic() + 60
            roll = self.rng.random()
            if roll < 0.15:
                self.create()
            elif roll < 0.25:
                self.revoke()
            elif roll < 0.35:
                self.regenerate()
            elif roll < 0.40:
                self.delete()
            elif roll < 0.45:
                self.request("list", "GET", "/api/v1/tokens?status=active")
            elif roll < 0.90:
                self.use()
            else:
                self.present_dead()


def admin_setup(host, port, email, password, users):
    """Logs the admin in and creates the members; returns [(email, password)]."""
    conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.request("POST", "/api/v1/session", json.dumps({"email": email, "password": password}),
                 {"Content-Type": "application/json"})
    response = conn.getresponse()
    body = json.loads(response.read())
    if response.status != 200:
        sys.exit(f"admin login failed: {response.status} {body}")
    headers = {
        "Content-Type": "application/json",
        "Cookie": response.getheader("Set-Cookie").split(";")[0],
        "X-CSRF-Token": body["csrf_token"],
    }
    made = []
    for n in range(users):
        user = {"email": f"soak{n}@example.com", "name": f"soak {n}", "role": "member",
                "password": f"Soak-password-{n}-long-enough"}
        conn.request("POST", "/api/v1/admin/users", json.dumps(user), headers)
        response = conn.getresponse()
        reply = response.read()
        if response.status != 201:
            sys.exit(f"creating {user['email']} failed: {response.status} {reply!r}")
        made.append((user["email"], user["password"]))
    conn.close()
    return made


def sample(pid):
    with open(f"/proc/{pid}/status") as status:
        fields = dict(line.split(":", 1) for line in status if ":" in line)
    rss_kib = int(fields["VmRSS"].split()[0])
    anon_kib = int(fields["RssAnon"].split()[0])
    threads = int(fields["Threads"])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss_kib, anon_kib, threads, fds


def mean(values):
    return sum(values) / len(values)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", required=True, help="host:port of patd")
    parser.add_argument("--pid", type=int, required=True, help="patd's process id")
    parser.add_argument("--seconds", type=int, default=600)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--interval", type=float, default=None,
                        help="sampling period (default: 10 s, less for short runs)")
    parser.add_argument("--database", help="the SQLite file, to report its and its WAL's size")
    parser.add_argument("--admin-email", required=True)
    parser.add_argument("--admin-password", required=True)
    args = parser.parse_args()
    host, port = args.address.rsplit(":", 1)
    port = int(port)
    interval = args.interval or max(1.0, min(10.0, args.seconds / 15))

    users = admin_setup(host, port, args.admin_email, args.admin_password, max(1, args.clients // 2))
    stats = Stats()
    start = time.monotonic()
    deadline = start + args.seconds
    threads = []
    for n in range(args.clients):
        email, password = users[n % len(users)]
        client = Client(host, port, email, password, stats, random.Random(n))
        thread = threading.Thread(target=client.run, args=(deadline,), daemon=True)
        thread.start()
        threads.append(thread)

    def wal_mib():
        try:
            return os.path.getsize(f"{args.database}-wal") / 2**20
        except (OSError, TypeError):
            return 0.0

    rows = []  # (t, rss KiB, anon KiB, threads, fds, requests, req/s, unexpected, WAL MiB)
    print(f"soak: {args.clients} clients for {args.seconds} s, sampling every {interval:g} s", flush=True)
    print(f"{'t (s)':>6} {'RSS (MiB)':>10} {'anon':>6} {'threads':>7} {'fds':>5} {'requests':>9} "
          f"{'req/s':>7} {'unexpected':>10} {'WAL (MiB)':>9}", flush=True)
    previous_requests, previous_t = 0, 0.0
    next_sample = start + interval
    while True:
        time.sleep(max(0.0, next_sample - time.monotonic()))
        t = time.monotonic() - start
        try:
            rss, anon, thread_count, fds = sample(args.pid)
        except FileNotFoundError:
            sys.exit(f"patd (pid {args.pid}) is gone after {t:.0f} s")
        with stats.lock:
            requests, unexpected = stats.requests, stats.unexpected
        rate = (requests - previous_requests) / (t - previous_t)
        previous_requests, previous_t = requests, t
        wal = wal_mib()
        rows.append((t, rss, anon, thread_count, fds, requests, rate, unexpected, wal))
        print(f"{t:6.0f} {rss / 1024:10.1f} {anon / 1024:6.1f} {thread_count:7d} {fds:5d} {requests:9d} "
              f"{rate:7.0f} {unexpected:10d} {wal:9.1f}", flush=True)
        next_sample += interval
        if next_sample > deadline + interval / 2:
            break
    for thread in threads:
        thread.join(timeout=35)

    # Minute 2 against the last minute (for a 600 s run); shorter runs scale both windows.
    window = args.seconds / 10
    baseline = [r for r in rows if window < r[0] <= 2 * window] or rows[:1]
    final = [r for r in rows if r[0] > args.seconds - window] or rows[-1:]
    base_rss, final_rss = mean([r[1] for r in baseline]), mean([r[1] for r in final])
    # fds: the most seen in the first half (the pool and keep-alive connections are open
    # by then) against the most in the last window.
    base_fds = max(r[4] for r in rows if r[0] <= args.seconds / 2)
    final_fds = max(r[4] for r in final)
    growth = (final_rss / base_rss - 1) * 100
    memory_flat = final_rss <= base_rss * 1.10
    no_errors = stats.unexpected == 0
    fds_flat = final_fds <= base_fds + 2

    print()
    print("| t (s) | RSS (MiB) | anon (MiB) | threads | open fds | requests | req/s | unexpected | WAL (MiB) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for t, rss, anon, thread_count, fds, requests, rate, unexpected, wal in rows:
        print(f"| {t:.0f} | {rss / 1024:.1f} | {anon / 1024:.1f} | {thread_count} | {fds} | {requests} "
              f"| {rate:.0f} | {unexpected} | {wal:.1f} |")
    print()
    print("requests by operation: " + ", ".join(f"{op} {n}" for op, n in stats.by_op.items()))
    for example in stats.examples:
        print(f"unexpected: {example}")
    print(f"memory: {base_rss / 1024:.1f} MiB (t {window:.0f}-{2 * window:.0f} s) -> "
          f"{final_rss / 1024:.1f} MiB (last {window:.0f} s), {growth:+.1f} % "
          f"[{'flat' if memory_flat else 'GREW'}: limit +10 %]")
    print(f"fds: {base_fds} (most in the first half) -> {final_fds} (most in the last {window:.0f} s) "
          f"[{'flat' if fds_flat else 'GREW'}: limit +2]")
    print(f"unexpected responses: {stats.unexpected} of {stats.requests}")
    verdict = memory_flat and no_errors and fds_flat
    print(f"VERDICT: {'PASS' if verdict else 'FAIL'}")
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
