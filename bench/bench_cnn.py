"""Throughput and peak memory: LvmMedCnnModel vs transformers' stock ResNetModel, identical weights.

Both models run alternately in one process (the order flips every round, so drift in machine
load hits both equally); the table reports images/s from the median round and the ratio
ours/stock (goal >= 1.0). Peak memory is torch.cuda.max_memory_allocated on CUDA; on CPU, where
torch's allocator is invisible to tracemalloc, each model runs once in a fresh subprocess and
reports the growth of its peak resident set size over one step (Linux VmHWM, reset before it).

    python bench/bench_cnn.py                      # CPU defaults: batch 32, 224 px, ~1 min
    python bench/bench_cnn.py --device cuda --iters 50 --train
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch

from lvmmed_hf import LvmMedCnnConfig, LvmMedCnnModel
from lvmmed_hf.models.conversion_cnn import export_to_transformers_resnet


def build_pair(seed: int = 0) -> tuple[torch.nn.Module, torch.nn.Module]:
    """Our ResNet-50 with random weights (BatchNorm statistics included) and its stock copy."""
    torch.manual_seed(seed)
    ours = LvmMedCnnModel(LvmMedCnnConfig())
    with torch.no_grad():
        for module in ours.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    stock = export_to_transformers_resnet(ours)
    return ours, stock


def _step(model: torch.nn.Module, pixels: torch.Tensor, train: bool) -> None:
    if train:
        out = model(pixels, return_dict=True).pooler_output
        out.float().square().mean().backward()
        model.zero_grad(set_to_none=True)
    else:
        with torch.inference_mode():
            model(pixels, return_dict=True)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_alternately(
    models: dict, pixels: torch.Tensor, iters: int, warmup: int, train: bool
) -> dict[str, list[float]]:
    """Seconds per batch for each model, measured round by round in alternating order."""
    device = pixels.device
    for model in models.values():
        model.train(train)
        for _ in range(warmup):
            _step(model, pixels, train)
    _sync(device)
    times: dict[str, list[float]] = {name: [] for name in models}
    names = list(models)
    for round_index in range(iters):
        for name in names if round_index % 2 == 0 else reversed(names):
            _sync(device)
            start = time.perf_counter()
            _step(models[name], pixels, train)
            _sync(device)
            times[name].append(time.perf_counter() - start)
    return times


def cuda_peak_memory(model: torch.nn.Module, pixels: torch.Tensor, train: bool) -> float:
    """Peak bytes allocated during one step, beyond what was allocated before it (MiB)."""
    model.train(train)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    _step(model, pixels, train)
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - before) / 2**20


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _cpu_peak_child(which: str, batch_size: int, image_size: int, train: bool, channels_last: bool) -> None:
    """Subprocess body: print the peak resident-memory growth (MiB) of one step of one model.

    Weights do not change memory use, so the child builds only the model it measures. Linux lets a
    process reset its resident high-water mark (write "5" to /proc/self/clear_refs): the peak is
    then VmHWM after the step minus VmRSS before it.
    """
    from transformers import ResNetModel

    from lvmmed_hf.models.conversion_cnn import to_transformers_resnet_config

    torch.set_num_threads(1)
    config = LvmMedCnnConfig()
    model = LvmMedCnnModel(config) if which == "ours" else ResNetModel(to_transformers_resnet_config(config))
    pixels = torch.randn(batch_size, 3, image_size, image_size)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        pixels = pixels.contiguous(memory_format=torch.channels_last)
    model.train(train)
    _step(model, pixels[:1], train)  # lazily created state (oneDNN primitives, grads) first
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")
    before = _status_kib("VmRSS")
    _step(model, pixels, train)
    print(json.dumps({"peak_mib": (_status_kib("VmHWM") - before) / 1024}))


def cpu_peak_memory(which: str, args: argparse.Namespace, train: bool) -> float:
    command = [
        sys.executable,
        __file__,
        "--_child",
        which,
        "--batch-size",
        str(args.batch_size),
        "--image-size",
        str(args.image_size),
    ]
    command += ["--train"] if train else []
    command += ["--channels-last"] if args.channels_last else []
    # A fixed mmap threshold makes glibc hand every large tensor back to the OS when it is freed, so
    # the resident high-water mark is the peak of live tensors rather than of a grown heap.
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}
    result = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    return json.loads(result.stdout.strip().splitlines()[-1])["peak_mib"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--iters", type=int, help="timed rounds per model (default: 6 CPU, 50 CUDA)")
    parser.add_argument("--warmup", type=int, help="untimed steps per model (default: 1 CPU, 10 CUDA)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--channels-last", action="store_true", help="NHWC memory format for both models")
    parser.add_argument("--train", action="store_true", help="also time forward+backward")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--_child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args._child is not None:
        _cpu_peak_child(args._child, args.batch_size, args.image_size, args.train, args.channels_last)
        return 0

    device = torch.device(args.device)
    on_cuda = device.type == "cuda"
    iters = args.iters if args.iters is not None else (50 if on_cuda else 6)
    warmup = args.warmup if args.warmup is not None else (10 if on_cuda else 1)
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)

    ours, stock = build_pair()
    ours, stock = ours.to(device, dtype), stock.to(device, dtype)
    pixels = torch.randn(args.batch_size, 3, args.image_size, args.image_size, device=device, dtype=dtype)
    if args.channels_last:
        ours, stock = ours.to(memory_format=torch.channels_last), stock.to(memory_format=torch.channels_last)
        pixels = pixels.contiguous(memory_format=torch.channels_last)
    ours.eval(), stock.eval()
    with torch.inference_mode():
        ours_pooled, stock_pooled = ours(pixels[:2]).pooler_output, stock(pixels[:2]).pooler_output.flatten(1)
        diff = (ours_pooled - stock_pooled).abs().max().item()

    models = {"LvmMedCnnModel": ours, "transformers ResNetModel": stock}
    where = f" ({torch.cuda.get_device_name(device)})" if on_cuda else f", {torch.get_num_threads()} threads"
    print(
        f"ResNet-50, batch {args.batch_size}, {args.image_size} px, {args.dtype}, device {device}"
        f"{where}"
        f", channels_last={args.channels_last}, {iters} alternating rounds after {warmup} warm-up; "
        f"torch {torch.__version__}; max |ours - stock| of pooled features: {diff:.1e}"
    )
    print()
    print("| mode | model | images/s (median round) | peak memory (MiB) |")
    print("|---|---|---:|---:|")
    for train in [False, True] if args.train else [False]:
        mode = "train (fwd+bwd)" if train else "inference"
        times = time_alternately(models, pixels, iters, warmup, train)
        throughput = {name: args.batch_size / statistics.median(t) for name, t in times.items()}
        if on_cuda:
            memory = {name: cuda_peak_memory(model, pixels, train) for name, model in models.items()}
        else:
            memory = {
                "LvmMedCnnModel": cpu_peak_memory("ours", args, train),
                "transformers ResNetModel": cpu_peak_memory("stock", args, train),
            }
        for name in models:
            print(f"| {mode} | {name} | {throughput[name]:.1f} | {memory[name]:.0f} |")
        ratio_speed = throughput["LvmMedCnnModel"] / throughput["transformers ResNetModel"]
        ratio_memory = memory["LvmMedCnnModel"] / memory["transformers ResNetModel"]
        print(f"| {mode} | **ratio ours/stock** | **{ratio_speed:.3f}** | {ratio_memory:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
