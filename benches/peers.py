"""resc's engine beside onnxruntime, OpenVINO and PyTorch eager, on this
machine, in one script: the only source of the peer figures in the README.

Needs a Python environment with torch, torchvision, onnx, onnxruntime and
openvino (never installed by the tests or CI), and a release build:
    cargo build --release
    python benches/peers.py [--threads 2] [--batch 1] [--rounds 5] [--runs 10] [--settle 1] [MODEL...]
Models are torchvision's resnet50, resnet18, densenet121 and resnext50_32x4d at
224x224, f32, batch 1 unless told (with a larger batch the table also gives
images per second). Each round times every runtime in turn (`--runs` runs
after two warm-ups, median), so slow drifts of the machine hit all alike; the
table gives the median over rounds with the min-max, and resc's time over
each peer's. OpenVINO's precision is forced to f32 (it picks bf16 on CPUs that
have it unless told).
"""
import argparse
import pathlib
import re
import statistics
import subprocess
import tempfile
import time

import numpy as np
import onnxruntime as ort
import openvino as ov
import torch
import torchvision

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODELS = ["resnet50", "resnet18", "densenet121", "resnext50_32x4d"]


def median_ms(f, runs):
    for _ in range(2):
        f()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        f()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def resc_ms(model, threads, batch, runs):
    out = subprocess.run(
        [
            str(ROOT / "target/release/resc"),
            "run",
            "-m",
            model,
            "--random-weights",
            "1",
            "--random-input",
            f"{batch}x3x224x224",
            "--bench",
            str(runs),
            "--threads",
            str(threads),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(re.search(r"median ([0-9.]+) ms", out).group(1))


def runtimes(name, threads, batch, work):
    torch.set_num_threads(threads)
    model = getattr(torchvision.models, name)(weights=None).eval()
    x = torch.randn(batch, 3, 224, 224)
    path = pathlib.Path(work) / f"{name}.onnx"
    torch.onnx.export(model, (x,), str(path), dynamo=False, opset_version=17, input_names=["x"])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    xn = x.numpy()
    core = ov.Core()
    compiled = core.compile_model(
        core.read_model(str(path)),
        "CPU",
        {
            "INFERENCE_NUM_THREADS": threads,
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": "f32",
            "NUM_STREAMS": 1,
        },
    )
    assert str(compiled.get_property("INFERENCE_PRECISION_HINT")) in ("<Type: 'float32'>", "f32"), compiled.get_property(
        "INFERENCE_PRECISION_HINT"
    )
    request = compiled.create_infer_request()
    # The peers agree with PyTorch on this input: what is timed computes the model.
    with torch.no_grad():
        want = model(x).numpy()
    got_ort = session.run(None, {"x": xn})[0]
    request.infer({0: xn})
    got_ov = request.get_output_tensor(0).data
    for what, got in [("onnxruntime", got_ort), ("OpenVINO", got_ov)]:
        err = np.abs(got - want).max() / np.abs(want).max()
        assert np.isfinite(got).all() and err < 1e-3, f"{name}: {what} differs from PyTorch by {err:.2e}"

    def eager():
        with torch.no_grad():
            model(x)

    return {
        "onnxruntime": lambda: session.run(None, {"x": xn}),
        "OpenVINO": lambda: request.infer({0: xn}),
        "PyTorch eager": eager,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--settle", type=float, default=1.0, help="seconds idle before timing each runtime")
    ap.add_argument("models", nargs="*", default=MODELS)
    a = ap.parse_args()
    print(
        f"torch {torch.__version__}, onnxruntime {ort.__version__}, OpenVINO {ov.__version__}; "
        f"{a.threads} threads, batch {a.batch}, 224x224, {a.rounds} rounds of {a.runs} runs"
    )
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for name in a.models:
            peers = runtimes(name, a.threads, a.batch, work)
            times = {k: [] for k in ["resc", *peers]}
            for _ in range(a.rounds):
                # The runtime timed before may leave its workers spinning on
                # the cores for a while; let them sleep before timing the next.
                time.sleep(a.settle)
                times["resc"].append(resc_ms(name, a.threads, a.batch, a.runs))
                for k, f in peers.items():
                    time.sleep(a.settle)
                    times[k].append(median_ms(f, a.runs))
            rows.append((name, times))
    names = list(rows[0][1])
    print("| model | " + " | ".join(names) + " | " + " | ".join(f"resc / {n}" for n in names[1:]) + " |")
    print("|---" * (2 * len(names)) + "|")
    for name, times in rows:
        med = {k: statistics.median(v) for k, v in times.items()}
        cells = [f"{med[k]:.1f} ms ({min(v):.1f}-{max(v):.1f})" for k, v in times.items()]
        ratios = [f"{med['resc'] / med[k]:.2f}" for k in names[1:]]
        print(f"| {name} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    if a.batch > 1:
        print(f"\nimages per second at batch {a.batch} (from the medians):")
        print("| model | " + " | ".join(names) + " |")
        print("|---" * (len(names) + 1) + "|")
        for name, times in rows:
            ips = [f"{a.batch * 1e3 / statistics.median(v):.1f}" for v in times.values()]
            print(f"| {name} | " + " | ".join(ips) + " |")


main()
