"""py-spy on one gateway worker under 64-connection load: a flame graph, and the top frames as text."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

from . import fixture, servers
from .measure import warm
from .sampler import Sampler

PY_SPY = Path(sys.executable).parent / "py-spy"
OURS = {"completions", "providers", "tenants", "usage", "gateway_project"}
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^():]+)(?::\d+)?\)$")


def _record(pid: int, seconds: int, fmt: str, out: Path) -> None:
    cmd = [str(PY_SPY), "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "100", "--gil",
           "--nonblocking", "--format", fmt, "--output", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=seconds + 60)


def _short(frame: str) -> str:
    """`func (path:line)` -> `func (path)`: lines apart, one function is one entry."""
    match = _FRAME.match(frame)
    return f"{match['func']} ({match['file']})" if match else frame


def _package(frame: str) -> str:
    match = _FRAME.match(frame)
    top = (match["file"] if match else frame).lstrip("<").split("/", 1)[0].removesuffix(".py")
    if top in OURS:
        return f"{top} (ours)"
    return "stdlib" if top in sys.stdlib_module_names or top.startswith("frozen") else top


def top_frames(raw: Path, limit: int = 25) -> str:
    """Self and inclusive sample shares per function, and self share per package, from py-spy's raw output."""
    own, total, package, samples = Counter(), Counter(), Counter(), 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n, frames = int(count), [f for f in stack.split(";") if "(" in f]
        if not frames:
            continue
        samples += n
        own[_short(frames[-1])] += n
        package[_package(frames[-1])] += n
        for frame in {_short(f) for f in frames}:
            total[frame] += n
    lines = [f"{samples} samples (active, non-idle)", "", "self time by package:"]
    lines += [f"  {100 * n / samples:5.1f}%  {name}" for name, n in package.most_common(15)]
    lines += ["", "self time by function:"]
    lines += [f"  {100 * n / samples:5.1f}%  {name}" for name, n in own.most_common(limit)]
    lines += ["", "inclusive time by function (ours and the libraries on the path):"]
    lines += [f"  {100 * n / samples:5.1f}%  {name}" for name, n in total.most_common(limit * 2)]
    return "\n".join(lines)


def run(args, upstream: servers.Running, fx: fixture.Fixture, seconds: int = 15) -> None:
    gateway = servers.start_gateway(args.server, args.workers, fx.env)
    try:
        warm(gateway, fx)
        pid = Sampler(gateway.pids).workers()[0]
        env = dict(os.environ, BENCH_KEY=fx.key, BENCH_MODEL=fx.model)
        lua = Path(__file__).with_name("wrk") / "chat.lua"
        load = subprocess.Popen(["wrk", "-t1", "-c64", f"-d{2 * seconds + 10}s", "-s", str(lua),
                                 gateway.url + "/v1/chat/completions"], env=env, stdout=subprocess.DEVNULL)
        try:
            servers.OUT.mkdir(exist_ok=True)
            svg, raw = servers.OUT / "profile.svg", servers.OUT / "profile.txt"
            _record(pid, seconds, "flamegraph", svg)
            _record(pid, seconds, "raw", raw)
        finally:
            load.terminate()
            load.wait(10)
    finally:
        gateway.stop()
    report = top_frames(raw)
    (servers.OUT / "profile-top.txt").write_text(report + "\n")
    print(f"flame graph: {svg}\ncollapsed stacks: {raw}\n\n{report}")
