"""The face detector's forward pass alone, fp32 beside int8, per session setting (#12).

    python bench/bench_detector_precision.py [--reps 15] [--json-out bench/results/detector_precision.json]

Inputs (the ones the console feeds the detector, built by
``crowdmood_gui/resources/models/quantize_detector.py``): the 1080p 16x16 grid's and the 4K
24x24 grid's frame shrunk to 640 px (the low-resolution pass), a 640x640 native tile of
each, and each grid's refresh mosaic (every face at 20 px in 1.25x regions). For each model
and session setting: CPU nanoseconds per input pixel of ``session.run`` (the whole
process's user + system time, so onnxruntime's worker threads and their spinning count;
the load average beside it) and wall nanoseconds per pixel. Settings: the shipped
``session_options`` at 1 and 2 intra-op threads; 2 threads with spinning allowed
(onnxruntime's default); graph optimisation ``EXTENDED`` (no NCHWc layout) instead of
``ALL``; without the memory arena and pattern; I/O binding (the input bound once as an
OrtValue, outputs onnxruntime-allocated) instead of ``run``. Also the input path:
``blobFromImage`` for each input, ns per pixel.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "crowdmood_gui" / "resources" / "models"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import code_version, cpu_model, finish, loadavg  # noqa: E402
from quantize_detector import CALIBRATION_GRIDS, calibration_images  # noqa: E402

from crowdmood_gui.core.detection import MODELS_BY_PRECISION, FaceDetector, session_options  # noqa: E402

# Which calibration images: per grid, (low-resolution pass, tile, mosaic) in that order.
INPUTS = {"1080p-16x16": 2, "4k-24x24": 3}  # index into CALIBRATION_GRIDS
KINDS = ("pass640", "tile", "mosaic")


def options(setting: str):
    import onnxruntime as ort

    opts = session_options(2 if setting.startswith("t2") else 1)
    if setting == "t2-spin":
        opts.add_session_config_entry("session.intra_op.allow_spinning", "1")
    if setting == "t1-extended":
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    if setting == "t1-no-arena":
        opts.enable_cpu_mem_arena = False
        opts.enable_mem_pattern = False
    return opts


SETTINGS = ("t1", "t2", "t2-spin", "t1-extended", "t1-no-arena", "t1-iobinding")


def per_pixel(session, blob, reps: int, iobinding: bool) -> tuple[float, float]:
    import onnxruntime as ort

    feed = {"input": blob}
    if iobinding:
        binding = session.io_binding()
        binding.bind_ortvalue_input("input", ort.OrtValue.ortvalue_from_numpy(blob))
        for out in ("loc", "conf", "landmarks"):
            binding.bind_output(out)

        def run():
            session.run_with_iobinding(binding)
            binding.copy_outputs_to_cpu()
    else:
        def run():
            session.run(None, feed)
    run(); run()
    cpu0, wall0 = os.times(), time.perf_counter()
    for _ in range(reps):
        run()
    cpu1, wall1 = os.times(), time.perf_counter()
    pixels = blob.shape[2] * blob.shape[3] * reps
    cpu = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
    return round(cpu * 1e9 / pixels, 1), round((wall1 - wall0) * 1e9 / pixels, 1)


def main() -> int:
    import onnxruntime as ort

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--settings", default=",".join(SETTINGS))
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    images = calibration_images()
    inputs = {}
    for grid, g in INPUTS.items():
        for k, kind in enumerate(KINDS):
            inputs[f"{grid} {kind}"] = images[3 * g + k]
    result: dict = {"code": code_version(), "cpu": cpu_model(), "cores": os.cpu_count(), "onnxruntime": ort.__version__,
                    "load_before": loadavg(), "inputs": {}, "blob_ns_per_px": {}, "runs": []}
    for name, image in inputs.items():
        result["inputs"][name] = f"{image.shape[1]}x{image.shape[0]}"
        t0 = time.thread_time()
        for _ in range(args.reps):
            FaceDetector.input_blob(image)
        result["blob_ns_per_px"][name] = round((time.thread_time() - t0) * 1e9 / (image.shape[0] * image.shape[1] * args.reps), 1)
    for setting in args.settings.split(","):
        for precision, path in MODELS_BY_PRECISION.items():
            session = ort.InferenceSession(str(path), sess_options=options(setting), providers=["CPUExecutionProvider"])
            row = {"setting": setting, "precision": precision, "load": loadavg()}
            for name, image in inputs.items():
                cpu, wall = per_pixel(session, FaceDetector.input_blob(image), args.reps, setting.endswith("iobinding"))
                row[name] = {"cpu_ns_per_px": cpu, "wall_ns_per_px": wall}
            result["runs"].append(row)
            print(json.dumps(row), flush=True)
    # fp32 / int8 CPU per pixel, same setting, same run
    for setting in args.settings.split(","):
        fp32, int8 = (next(r for r in result["runs"] if r["setting"] == setting and r["precision"] == p)
                      for p in ("fp32", "int8"))
        result.setdefault("speedup_int8", {})[setting] = {
            name: round(fp32[name]["cpu_ns_per_px"] / int8[name]["cpu_ns_per_px"], 2) for name in inputs}
    status = finish(result, args.json_out)
    print(json.dumps({k: result[k] for k in ("blob_ns_per_px", "speedup_int8", "load_before", "load_after")}, indent=1))
    return status


if __name__ == "__main__":
    raise SystemExit(main())
