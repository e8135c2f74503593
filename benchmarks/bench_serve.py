"""Load test of ``python -m spacy_ft serve``: micro-batching against one ``nlp()`` per request.
Both servers run at once on 127.0.0.1; per concurrency K, K httpx clients send one-text
requests, and the cells of the two modes alternate. ``spacy project run bench-serve`` runs
it; docs/benchmarks.md ("HTTP server") holds the results. Smoke run:
``--concurrency 1 8 --requests 30 --repeats 1``."""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness import jsonl_texts, script_parser, table, write_report

ROOT = Path(__file__).resolve().parents[1]
TEXTS = ROOT / "assets" / "en_demo_dev.jsonl"
MODES = {"batched": [], "unbatched": ["--no-batching"]}
STARTUP_SECONDS = 180.0


def percentile(values: list[float], q: float) -> float:
    """Nearest rank: a latency some request really had."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q / 100 * len(ordered) + 0.5)) - 1))]


class Server:
    """``python -m spacy_ft serve`` in a subprocess on a free port of 127.0.0.1."""

    def __init__(self, model: Path, extra: list[str]) -> None:
        import httpx

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        command = [
            sys.executable,
            "-m",
            "spacy_ft",
            "serve",
            str(model),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        command += ["--no-access-log", "--log-level", "warning", *extra]
        self.process = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + STARTUP_SECONDS
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
        raise RuntimeError(f"the server did not answer /health within {STARTUP_SECONDS:g} s")

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
    cell = {"requests": sent, "ok": len(latencies), "errors": len(errors), "error_samples": errors[:3]}
    if latencies:
        cell |= {"seconds": round(elapsed, 3), "rps": len(latencies) / elapsed}
        cell |= {f"p{q}_ms": 1000 * percentile(latencies, q) for q in (50, 95, 99)}
    return cell


def median_cell(cells: list[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {"repeats": len(cells), "errors": sum(c["errors"] for c in cells)}
    merged["requests"] = sum(c["requests"] for c in cells)
    for key in ("rps", "p50_ms", "p95_ms", "p99_ms"):
        values = [c[key] for c in cells if key in c]
        merged[key] = round(statistics.median(values), 2) if values else None
    merged["error_samples"] = [s for c in cells for s in c["error_samples"]][:3]
    return merged


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def main() -> int:
    parser = script_parser(__doc__, ROOT / "benchmarks" / "results" / "serve.json")
    parser.add_argument("--model", type=Path, default=ROOT / "training" / "en" / "model-best")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--requests", type=int, default=150, help="Requests per (mode, K) cell")
    parser.add_argument("--max-seconds", type=float, default=30.0, help="Time limit per cell")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not (args.model / "config.cfg").is_file():
        print(
            f"no pipeline at {args.model}: run `spacy project run train-en` or pass --model", file=sys.stderr
        )
        return 0
    texts = jsonl_texts(TEXTS)
    runs: dict[str, dict[int, list[dict[str, Any]]]] = {
        mode: {k: [] for k in args.concurrency} for mode in MODES
    }
    servers: dict[str, Server] = {}
    try:
        for mode, extra in MODES.items():  # both up at once, so their cells can alternate
            servers[mode] = Server(args.model, extra)
            asyncio.run(load(servers[mode].url, texts, 4, 20, 60))  # warm-up: first batches, connections
        for repeat in range(args.repeats):
            for clients in args.concurrency:
                for mode in list(MODES)[:: -1 if repeat % 2 else 1]:
                    cell = asyncio.run(
                        load(servers[mode].url, texts, clients, args.requests, args.max_seconds)
                    )
                    runs[mode][clients].append(cell)
                    print(
                        f"  {mode:9s} K={clients:<3d} {cell.get('rps', 0):7.1f} req/s  "
                        f"p50 {cell.get('p50_ms', 0):7.1f} ms  errors {cell['errors']}",
                        file=sys.stderr,
                        flush=True,
                    )
    finally:
        for server in servers.values():
            server.stop()
    medians = {mode: {k: median_cell(cells) for k, cells in by_k.items()} for mode, by_k in runs.items()}
    ratios = {}
    for k in args.concurrency:
        batched, unbatched = medians["batched"][k], medians["unbatched"][k]
        ratios[k] = {
            "rps_batched_over_unbatched": ratio(batched["rps"], unbatched["rps"]),
            "p50_batched_over_unbatched": ratio(batched["p50_ms"], unbatched["p50_ms"]),
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
    for k, r in ratios.items():
        print(
            f"K={k}: batched/unbatched req/s x{r['rps_batched_over_unbatched']}, p50 x{r['p50_batched_over_unbatched']}"
        )
    result = {
        "model": str(args.model),
        "settings": {
            key: (str(value) if isinstance(value, Path) else value) for key, value in vars(args).items()
        },
        "server_defaults": "--max-batch 32 --max-wait-ms 5 --max-queue 256 (batched); --no-batching",
        "results": {mode: {str(k): cell for k, cell in by_k.items()} for mode, by_k in medians.items()},
        "ratios": {str(k): r for k, r in ratios.items()},
        "load_average": os.getloadavg(),
    }
    write_report(args.output, result)
    return 1 if sum(cell["errors"] for by_k in medians.values() for cell in by_k.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
