"""Run every emulator until killed:

    python -m devkit.sandbox --data data/sample [--state data/sandbox] [--ready-file PATH]

Once every server listens it writes `<state>/endpoints.json` (the environment the
platform's local settings read) and `<state>/ca.pem`, prints the URLs, and touches
`--ready-file` if given. A stale endpoints.json is removed first, so a launcher can
wait for the file to appear. SIGTERM or Ctrl-C stops it cleanly and removes
endpoints.json again.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from .service import APIS, DEFAULT_PORTS, Sandbox


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devkit.sandbox", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="data/sample", type=Path, help="sample-data directory (default: %(default)s)")
    parser.add_argument("--state", default="data/sandbox", type=Path,
                        help="where endpoints.json, ca.pem and writes.jsonl go (default: %(default)s)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    for api in APIS:
        parser.add_argument(f"--{api.replace('_', '-')}-port", type=int, default=DEFAULT_PORTS[api],
                            dest=f"port_{api}", help=f"{api} port (default: %(default)s; 0 = any free port)")
    parser.add_argument("--ready-file", type=Path, help="touch this file once every server listens")
    parser.add_argument("--seed", type=int, default=0, help="seed for fault error rates and result shuffling")
    parser.add_argument("--salesforce-page-size", type=int, default=2000, help="SOQL page size (default: %(default)s)")
    parser.add_argument("--salesforce-api-limit", type=int, default=100_000,
                        help="org API request limit (default: %(default)s)")
    parser.add_argument("--log-level", default="INFO", help="logging level (default: %(default)s)")
    return parser


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args.state.mkdir(parents=True, exist_ok=True)
    endpoints = args.state / "endpoints.json"
    for stale in (endpoints, args.ready_file):
        if stale is not None:
            stale.unlink(missing_ok=True)
    try:
        sandbox = Sandbox(args.data, host=args.host, ports={api: getattr(args, f"port_{api}") for api in APIS},
                          state_dir=args.state, seed=args.seed, salesforce_page_size=args.salesforce_page_size,
                          salesforce_api_limit=args.salesforce_api_limit)
        sandbox.start()
    except (FileNotFoundError, OSError, ValueError) as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 2

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        _write_atomically(endpoints, json.dumps(sandbox.env(), indent=2) + "\n")
        width = max(len(api) for api in APIS)
        for api, url in sandbox.urls.items():
            print(f"  {api:<{width}}  {url}")
        print(f"sandbox ready: {endpoints} (CA {sandbox.ca_path}); admin API at <any URL>/__sandbox/", flush=True)
        if args.ready_file:
            args.ready_file.parent.mkdir(parents=True, exist_ok=True)
            args.ready_file.touch()
        stop.wait()
    finally:
        endpoints.unlink(missing_ok=True)
        if args.ready_file:
            args.ready_file.unlink(missing_ok=True)
        sandbox.stop()
    print("sandbox stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
