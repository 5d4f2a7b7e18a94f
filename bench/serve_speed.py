"""How fast does `bertcli serve` answer many clients, against `bertcli predict --file` and a naive server?

One run, on the same model and the same N IMDb test reviews (../shared/data/imdb):

  1. `bertcli predict --file` on the N reviews: the throughput of the batch path (its own summary's
     seconds: classification only, not the model's load);
  2. `bertcli serve` (micro-batching across requests) and a naive server (FastAPI + uvicorn, one request
     → one forward of its text, no batching), each a real process on a free port, at 1, 8 and 32
     concurrent clients, each client sending one review per request until all N are answered:
     throughput and p50/p95 latency;
  3. one short text ("a wonderful film") sent 30 times by one client: p50 latency of each server.

Which model: --model PATH (a model folder or an export), else the newest under --results, else the
packaged all-MiniLM-L6-v2 with a fresh, seeded head (speed only).

    python bench/serve_speed.py --n 2000
    python bench/serve_speed.py --n 200 --clients 1,8,32
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _common import DEFAULT_IMDB, REPO, cpu_kind, load_average
from predict_speed import pick_model, read_split

NAIVE = '''
import sys
from fastapi import FastAPI, Request
import uvicorn
from bertcli.core.inference.load import load_for_inference
from bertcli.core.inference.stream import predict_texts
clf = load_for_inference(sys.argv[1], precision="fp32")
app = FastAPI()

@app.post("/predict")
async def predict(request: Request):
    texts = (await request.json())["texts"]
    preds = predict_texts(clf, texts, batch_size=len(texts))  # this request's texts, one forward
    return {"predictions": [{"label": p.label, "confidence": p.confidence} for p in preds]}

@app.get("/health")
async def health():
    return {"status": "ok"}

print("listening on", flush=True, file=sys.stderr)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
'''


def start(command: list[str], port: int, log: Path) -> subprocess.Popen:
    import httpx

    env = {**os.environ, "PYTHONPATH": str(REPO), "TOKENIZERS_PARALLELISM": "false"}
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=open(log, "w"), env=env)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.3)
    sys.exit("server did not start")


def load_test(url: str, texts: list[str], clients: int) -> dict:
    import httpx

    latencies: list[float] = []
    position = iter(range(len(texts)))

    def client() -> None:
        with httpx.Client(timeout=300) as http:
            for i in position:  # the iterator is shared: each review goes to one client
                started = time.perf_counter()
                response = http.post(url + "/predict", json={"texts": [texts[i]]})
                response.raise_for_status()
                latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for f in [pool.submit(client) for _ in range(clients)]:
            f.result()
    seconds = time.perf_counter() - started
    q = statistics.quantiles(latencies, n=20)
    return {"texts_per_s": len(texts) / seconds, "p50_ms": 1000 * statistics.median(latencies), "p95_ms": 1000 * q[18]}


def short_p50(url: str) -> float:
    import httpx

    with httpx.Client(timeout=60) as http:
        times = []
        for _ in range(30):
            started = time.perf_counter()
            http.post(url + "/predict", json={"texts": ["a wonderful film"]}).raise_for_status()
            times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times[5:])


def predict_file(model: str, texts: list[str], scratch: Path) -> float:
    path = scratch / "texts.txt"
    path.write_text("\n".join(" ".join(t.split()) for t in texts) + "\n")
    env = {**os.environ, "PYTHONPATH": str(REPO), "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run([sys.executable, "-m", "bertcli", "predict", "--model", model, "--file", str(path), "--json",
                           "--precision", "fp32", "-q"], capture_output=True, text=True, env=env, check=True)
    summary = json.loads(done.stdout)["summary"]
    return summary["predicted"] / summary["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model")
    parser.add_argument("--results", default="results")
    parser.add_argument("--imdb", type=Path, default=DEFAULT_IMDB)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--max-length", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from serving_ports import free_port

    texts, _ = read_split(args.imdb, "test", args.n, args.seed)
    levels = [int(c) for c in args.clients.split(",")]
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        model, described = pick_model(args, scratch)
        rows = [("bertcli predict --file", {"texts_per_s": predict_file(model, texts, scratch)})]
        servers = {
            "bertcli serve": [sys.executable, "-m", "bertcli", "serve", model, "--precision", "fp32"],
            "naive server": [sys.executable, "-c", NAIVE, model],
        }
        short = {}
        for name, command in servers.items():
            port = free_port()
            args_port = ["--port", str(port)] if name == "bertcli serve" else [str(port)]
            process = start(command + args_port, port, scratch / f"{port}.log")
            url = f"http://127.0.0.1:{port}"
            try:
                short[name] = short_p50(url)
                for clients in levels:
                    rows.append((f"{name}, {clients} clients", load_test(url, texts, clients)))
            finally:
                process.terminate()
                process.wait(60)
    base = rows[0][1]["texts_per_s"]
    print(f"{cpu_kind()}, {os.cpu_count()} cores; {load_average()}; {args.n} IMDb test reviews; {described}")
    print(f"{'':<28} {'texts/s':>8} {'× predict --file':>17} {'p50 ms':>8} {'p95 ms':>8}")
    for name, row in rows:
        print(f"{name:<28} {row['texts_per_s']:>8.2f} {row['texts_per_s'] / base:>17.2f} "
              f"{row.get('p50_ms', float('nan')):>8.1f} {row.get('p95_ms', float('nan')):>8.1f}")
    for name, ms in short.items():
        print(f"{name}: one short text, p50 {ms:.1f} ms")


if __name__ == "__main__":
    main()
