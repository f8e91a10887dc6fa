#!/usr/bin/env python3
"""Search benchmark: GET /search/messages latency with N stored messages.

Starts a release chat-server on a fresh data dir (SQLite, or PostgreSQL with --database-url),
registers two users with a direct thread over HTTP, then seeds N messages straight into the
database (one transaction, the same columns and feed positions the server writes; the search
index is kept by the migration's triggers on SQLite and by the GIN expression index on
PostgreSQL), restarts the server and times one-word and two-word queries over HTTP with one
kept-alive connection. Prints p50/p99 per query class and one JSON line.

  python3 examples/search-bench.py --server target/release/chat-server --messages 1000000
"""

import argparse
import http.client
import json
import os
import random
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

WORDS = 20000


def word(i):
    # pronounceable, distinct, lower-case: "kamo", "ribetu", ...
    consonants, vowels = "bdfgklmnprstvz", "aeiou"
    out = ""
    i += 1
    while i:
        i, r = divmod(i, len(consonants) * len(vowels))
        out += consonants[r // len(vowels)] + vowels[r % len(vowels)]
    return out


def zipf_words(rng, n):
    # a word's rank r is drawn with weight 1/r: a few very common words, a long tail
    return [word(int(WORDS ** rng.random()) - 1) for _ in range(n)]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start(server, data_dir, port, database_url):
    env = dict(os.environ, RATE_LIMITS="off", BCRYPT_COST="4", DATA_DIR=data_dir,
               BIND_ADDR=f"127.0.0.1:{port}", RUST_LOG="warn")
    if database_url:
        env["DATABASE_URL"] = database_url
    proc = subprocess.Popen([server], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/healthz")
            if c.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.1)
    raise SystemExit("server did not start")


def call(conn, method, path, body=None, token=None):
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    res = conn.getresponse()
    return res.status, json.loads(res.read() or b"null")


def seed_sqlite(path, thread, sender, texts):
    db = sqlite3.connect(path)
    db.execute("PRAGMA synchronous = OFF")
    first = db.execute("SELECT COALESCE(MAX(id), 0) FROM messages").fetchone()[0] + 1
    rows = ((first + i, thread, sender, t, "2026-12-01 00:00:00", first + i) for i, t in enumerate(texts))
    db.executemany("INSERT INTO messages (id, thread_id, sender_id, body, created_at, seq) VALUES (?,?,?,?,?,?)", rows)
    last = first + len(texts) - 1
    db.execute("UPDATE change_feed SET head = ?", (last,))
    db.execute("UPDATE threads SET last_message_id = ? WHERE id = ?", (last, thread))
    db.commit()
    db.close()


def seed_postgres(url, thread, sender, texts):
    # psql's COPY: no Python driver needed
    with tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False) as f:
        # seq is unique: placeholders below zero until each row has its id
        for i, t in enumerate(texts):
            f.write(f"{thread}\t{sender}\t{t}\t2026-12-01 00:00:00\t{-1 - i}\n")
        tsv = f.name
    script = f"""
\\copy messages (thread_id, sender_id, body, created_at, seq) FROM '{tsv}'
UPDATE messages SET seq = id WHERE seq < 0;
UPDATE change_feed SET head = (SELECT MAX(seq) FROM messages);
UPDATE threads SET last_message_id = (SELECT MAX(id) FROM messages) WHERE id = {thread};
ANALYZE messages;
"""
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", url], input=script, text=True, check=True)
    os.unlink(tsv)


def pct(sorted_ms, q):
    return sorted_ms[min(len(sorted_ms) - 1, int(q * len(sorted_ms)))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", default="target/release/chat-server")
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=300, help="per query class")
    ap.add_argument("--database-url", help="postgres://... (default: SQLite in the data dir)")
    args = ap.parse_args()
    rng = random.Random(7)
    data_dir = tempfile.mkdtemp(prefix="search-bench.")
    port = free_port()
    proc = start(args.server, data_dir, port, args.database_url)
    conn = http.client.HTTPConnection("127.0.0.1", port)
    tokens = []
    for name in ("searcher01", "writer0001"):
        _, body = call(conn, "POST", "/auth/register", {"nickName": name, "userName": name,
                                                         "password": "Passw0rdOK", "confirmPassword": "Passw0rdOK"})
        tokens.append((body["accessToken"], body["user"]["id"]))
    (reader, _), (writer, writer_id) = tokens
    _, body = call(conn, "POST", "/threads", {"userId": tokens[0][1]}, writer)
    thread = body["thread"]["id"]
    proc.terminate()
    proc.wait()

    t0 = time.time()
    texts = [" ".join(zipf_words(rng, 8)) for _ in range(args.messages)]
    if args.database_url:
        seed_postgres(args.database_url, thread, writer_id, texts)
    else:
        seed_sqlite(os.path.join(data_dir, "chat.db"), thread, writer_id, texts)
    seed_secs = time.time() - t0
    counts = {}
    for t in texts:
        for w in set(t.split()):
            counts[w] = counts.get(w, 0) + 1
    by_count = sorted(counts.items(), key=lambda kv: -kv[1])
    n = len(texts)
    classes = {
        # a word in about 1 message in 10, 1 in 1,000, 1 in 100,000
        "common (~10%)": [w for w, c in by_count if 0.05 * n <= c <= 0.2 * n],
        "medium (~0.1%)": [w for w, c in by_count if 0.0005 * n <= c <= 0.002 * n],
        "rare (~0.001%)": [w for w, c in by_count if 1 <= c <= max(2, 0.00002 * n)],
    }
    proc = start(args.server, data_dir, port, args.database_url)
    conn = http.client.HTTPConnection("127.0.0.1", port)
    results = {"messages": n, "seed_secs": round(seed_secs, 1),
               "database": "postgres" if args.database_url else "sqlite"}
    for label, pool in classes.items():
        if not pool:
            continue
        times = []
        for i in range(args.queries):
            q = pool[i % len(pool)]
            if label.startswith("common") and i % 2:
                q = q[:3]  # a prefix query
            started = time.perf_counter()
            status, body = call(conn, "GET", f"/search/messages?q={q}", token=reader)
            times.append((time.perf_counter() - started) * 1000)
            if status != 200:
                raise SystemExit(f"{q}: HTTP {status}: {body}")
        times.sort()
        results[label] = {"p50_ms": round(pct(times, 0.5), 2), "p99_ms": round(pct(times, 0.99), 2)}
        print(f"{label:16} p50 {pct(times, 0.5):7.2f} ms   p99 {pct(times, 0.99):7.2f} ms   ({len(pool)} words)")
    # two words, both common: the AND of two long lists
    pool = classes["common (~10%)"]
    times = []
    for i in range(args.queries):
        q = f"{pool[i % len(pool)]}+{pool[(i * 7 + 1) % len(pool)]}"
        started = time.perf_counter()
        call(conn, "GET", f"/search/messages?q={q}", token=reader)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    results["two common words"] = {"p50_ms": round(pct(times, 0.5), 2), "p99_ms": round(pct(times, 0.99), 2)}
    print(f"{'two common words':16} p50 {pct(times, 0.5):7.2f} ms   p99 {pct(times, 0.99):7.2f} ms")
    proc.terminate()
    proc.wait()
    print(json.dumps(results))


if __name__ == "__main__":
    sys.exit(main())
