"""``python -m bench [--quick] [--json FILE] [--only NAME]``: run the workloads and print the report."""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from . import (
    bulk,
    cluster,
    fan_out,
    idle_connections,
    latency,
    machine,
    report,
    restart_attach,
    scale,
    short_lines,
    slow_consumer,
    spawn,
    spawn_kept,
)
from .result import WorkloadResult
from .servers import Running, our_server
from .sizes import FULL, QUICK, Sizes

Workload = Callable[[Sizes, Running], Awaitable[WorkloadResult]]
WORKLOADS: dict[str, Workload] = {
    short_lines.NAME: short_lines.run,
    bulk.NAME: bulk.run,
    latency.NAME: latency.run,
    spawn.NAME: spawn.run,
    scale.NAME: scale.run,
    slow_consumer.NAME: slow_consumer.run,
    restart_attach.NAME: restart_attach.run,
    spawn_kept.NAME: spawn_kept.run,
    idle_connections.NAME: idle_connections.run,
    fan_out.NAME: fan_out.run,
    cluster.NAME: cluster.run,
}
# Run only when named with --only: they start servers of their own (cluster: Redis and two nodes).
OPT_IN = {cluster.NAME}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke check in well under a minute")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON to FILE")
    parser.add_argument(
        "--only", choices=sorted(WORKLOADS), action="append", help="run only this workload (repeatable)"
    )
    return parser.parse_args(argv)


def _raise_fd_limit() -> None:
    """Hundreds of connections, each with a job's pipes, need more descriptors than a default soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def _run(sizes: Sizes, names: list[str]) -> list[WorkloadResult]:
    results = []
    async with our_server(max_sessions=max(sizes.scale_levels) * 2) as server:
        for name in names:
            print(f"running {name} ...", file=sys.stderr, flush=True)
            began = time.perf_counter()
            results.append(await WORKLOADS[name](sizes, server))
            print(f"  {name} took {time.perf_counter() - began:.1f} s", file=sys.stderr, flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    sizes = QUICK if args.quick else FULL
    names = args.only or [name for name in WORKLOADS if name not in OPT_IN]
    _raise_fd_limit()
    about = machine.describe()
    results = asyncio.run(_run(sizes, names))
    print(report.render(about, sizes.quick, results))
    if args.json:
        payload = {
            "quick": sizes.quick,
            "machine": about,
            "workloads": [result.as_dict() for result in results],
            "all_accounted": all(result.all_accounted for result in results),
            "targets_met": all(row.met for result in results for row in result.rows if row.met is not None),
        }
        args.json.write_text(json.dumps(payload, indent=2))
    return 0 if all(result.all_accounted for result in results) else 1


sys.exit(main())
