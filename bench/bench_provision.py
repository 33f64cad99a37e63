"""AWS setup against moto, the provisioner as split per resource beside the one before the split.

    python bench/bench_provision.py [--before 59334af] [--repeat 3] [--json-out bench/results/provision.json]

For each implementation, in one process, against moto (in-process, so the figures are the
code's own cost plus moto's, no network): a first setup (creates everything), a second setup
(adopts and checks: nothing to change) and a teardown. Prints the AWS calls each phase makes
(counted on the session's ``before-call`` event, so every client the provisioner makes counts)
and the wall time of each phase (median of ``--repeat``). ``--before COMMIT`` loads
``crowdmood_gui/core/aws/provision.py`` as it was at that commit (the single-file
provisioner) from git; without it only the current code is measured.
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import code_version, cpu_model, write_json  # noqa: E402

PHASES = ("setup", "setup_again", "teardown")


def load_before(commit: str):
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{commit}:crowdmood_gui/core/aws/provision.py"],
                            capture_output=True, text=True, check=True).stdout
    path = Path(tempfile.mkdtemp()) / "provision_before_split.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("provision_before_split", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def moto_like_aws():
    """moto, with PutFunctionEventInvokeConfig overwriting as AWS does (tests/core/aws/test_provision.py)."""
    from moto.awslambda.models import EventInvokeConfig, LambdaBackend

    def put_overwrites(backend, function_name, config):
        fn = backend.get_function(function_name)
        fn.event_invoke_config = [EventInvokeConfig(fn.function_arn, fn.last_modified, config)]
        return fn.event_invoke_config[0].response()

    LambdaBackend.put_function_event_invoke_config = put_overwrites


def one_run(module, package: bytes, suffix: str) -> dict:
    import boto3
    from moto import mock_aws

    from crowdmood_gui.core.aws.naming import default_names

    names = default_names(suffix)
    out = {}
    with mock_aws():
        session = boto3.Session(region_name="us-east-1", aws_access_key_id="bench", aws_secret_access_key="bench")
        calls: collections.Counter = collections.Counter()
        session.events.register("before-call", lambda event_name, **_: calls.update([event_name.split(".", 1)[1]]))
        for phase in PHASES:
            calls.clear()
            provisioner = module.Provisioner(session, names, package=package, sleep=lambda s: None, log=lambda line: None)
            start = time.perf_counter()
            report = provisioner.teardown() if phase == "teardown" else provisioner.run()
            elapsed = time.perf_counter() - start
            if not report.ok:
                raise SystemExit(f"{module.__name__} {phase} failed: {report.summary()}")
            out[phase] = {"s": elapsed, "calls": sum(calls.values()), "by_operation": dict(sorted(calls.items()))}
    return out


def measure(module, package: bytes, repeat: int) -> dict:
    runs = [one_run(module, package, f"bench{i:02d}") for i in range(repeat)]
    return {
        phase: {
            "median_s": round(statistics.median(r[phase]["s"] for r in runs), 3),
            "calls": runs[0][phase]["calls"],
            "by_operation": runs[0][phase]["by_operation"],
        }
        for phase in PHASES
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="commit of the single-file provisioner to measure beside the current one")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    os.environ["CROWDMOOD_HOME"] = tempfile.mkdtemp()  # the state file goes there
    moto_like_aws()
    from crowdmood_gui.core.aws import provision
    from crowdmood_gui.core.aws.lambda_zip import build_lambda_zip

    package = build_lambda_zip()
    implementations = {"after_split": provision}
    if args.before:
        implementations = {"before_split": load_before(args.before), **implementations}
    load_before_run = Path("/proc/loadavg").read_text().split()[:3]
    results = {name: measure(module, package, args.repeat) for name, module in implementations.items()}
    out = {
        "commit": code_version(),
        "before_commit": args.before,
        "cpu": cpu_model(),
        "loadavg_before": load_before_run,
        "loadavg_after": Path("/proc/loadavg").read_text().split()[:3],
        "repeat": args.repeat,
        "input": "moto (in-process), us-east-1, default names, the real Lambda package",
        "results": results,
    }
    for name, phases in results.items():
        print(name + ": " + "; ".join(f"{p} {v['calls']} calls {v['median_s']:.2f} s" for p, v in phases.items()))
    if "before_split" in results:
        for phase in PHASES:
            before = collections.Counter(results["before_split"][phase]["by_operation"])
            after = collections.Counter(results["after_split"][phase]["by_operation"])
            diff = {op: after[op] - before[op] for op in sorted(set(before) | set(after)) if after[op] != before[op]}
            out.setdefault("call_differences", {})[phase] = diff
            print(f"  {phase}: calls after - before: {diff or 'none'}")
    print(f"load average {out['loadavg_before']} -> {out['loadavg_after']}")
    if args.json_out:
        write_json(args.json_out, out)


if __name__ == "__main__":
    main()
