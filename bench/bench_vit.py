"""Throughput and peak memory: LvmMedViTModel vs transformers' SamVisionModel, identical weights.

Both models are SAM ViT-B (12 blocks, windows of 14, global blocks 2/5/8/11, relative positions,
no absolute positions) with the 256-channel neck, because SamVisionModel always has one. Weights
are random, in our layout, and loaded into SamVisionModel through lvmmed_hf's key mapping. The two
models are timed alternately (ours, stock, ours, ...) in eval mode under ``torch.inference_mode``,
so drifting machine load hits both alike; the table gives medians and ratios ours/stock
(> 1 means ours is faster / for memory: ours uses less).

Peak memory is the peak of memory in use during one forward pass above what was in use before:
``torch.cuda.max_memory_allocated`` on GPU; on CPU the glibc heap in use (``mallinfo2``: arena +
mmapped blocks), sampled after every aten operator by a dispatch mode (separate from the timed runs).

    python bench/bench_vit.py  # CPU defaults: 224 px batch 4, 1024 px batch 1 (~2-3 min, idle 2 cores)
    python bench/bench_vit.py --device cuda --batch-size 32 --batch-size-1024 2 --iters 20
"""

from __future__ import annotations

import argparse
import ctypes
import statistics
import time

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from transformers import SamVisionModel

from lvmmed_hf.models.configuration_lvmmed_vit import LvmMedViTConfig
from lvmmed_hf.models.conversion_vit import lvmmed_vit_to_hf_sam_config, lvmmed_vit_to_hf_sam_state_dict
from lvmmed_hf.models.modeling_lvmmed_vit import LvmMedViTModel


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


_LIBC = ctypes.CDLL("libc.so.6")
_LIBC.mallinfo2.restype = _Mallinfo2


def _heap_in_use() -> int:
    info = _LIBC.mallinfo2()
    return int(info.uordblks + info.hblkhd)


class _PeakHeap(TorchDispatchMode):
    """Largest heap in use (bytes) seen after any aten operator."""

    def __init__(self) -> None:
        super().__init__()
        self.peak = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.peak = max(self.peak, _heap_in_use())
        return out


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_once(model: torch.nn.Module, pixel_values: torch.Tensor) -> float:
    _sync(pixel_values.device)
    start = time.perf_counter()
    model(pixel_values)
    _sync(pixel_values.device)
    return time.perf_counter() - start


def _peak_memory(model: torch.nn.Module, pixel_values: torch.Tensor) -> int:
    device = pixel_values.device
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        model(pixel_values)
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - base
    base = _heap_in_use()
    with _PeakHeap() as tracker:
        model(pixel_values)
    return max(tracker.peak - base, 0)


def build_pair(image_size: int = 1024, seed: int = 0) -> tuple[LvmMedViTModel, SamVisionModel]:
    """Ours (with neck) and stock SamVisionModel holding the same random weights."""
    config = LvmMedViTConfig(use_neck=True, image_size=image_size)
    ours = LvmMedViTModel(config).eval()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in ours.named_parameters():
            noise = torch.randn(param.shape, generator=generator) * 0.02
            param.copy_(
                noise + (1.0 if name.endswith("norm1.weight") or name.endswith("norm2.weight") else 0.0)
            )
    stock = SamVisionModel(lvmmed_vit_to_hf_sam_config(config)).eval()
    stock.load_state_dict(lvmmed_vit_to_hf_sam_state_dict(ours.state_dict()), strict=True)
    return ours, stock


def bench_case(
    ours: torch.nn.Module, stock: SamVisionModel, size: int, batch: int, iters: int, device: torch.device
) -> dict:
    # SamVisionModel refuses inputs other than config.image_size; its maths (rel-pos interpolation)
    # handles them, so we widen the check rather than build a second stock model per size.
    stock.vision_encoder.patch_embed.image_size = (size, size)
    pixel_values = torch.randn(batch, 3, size, size, device=device)
    with torch.inference_mode():
        diff = (
            (ours(pixel_values[:1]).neck_embeddings - stock(pixel_values[:1]).last_hidden_state).abs().max()
        )
        times: dict[str, list[float]] = {"ours": [], "stock": []}
        for model in (ours, stock):  # warm-up
            _time_once(model, pixel_values)
        for _ in range(iters):
            times["ours"].append(_time_once(ours, pixel_values))
            times["stock"].append(_time_once(stock, pixel_values))
        memory = {"ours": _peak_memory(ours, pixel_values), "stock": _peak_memory(stock, pixel_values)}
    result = {"size": size, "batch": batch, "iters": iters, "max_abs_diff": float(diff)}
    for name in ("ours", "stock"):
        result[f"{name}_ips"] = batch / statistics.median(times[name])
        result[f"{name}_mib"] = memory[name] / 2**20
    return result


def format_table(rows: list[dict], device: str, threads: int) -> str:
    lines = [
        f"device: {device}, torch threads: {threads}, torch {torch.__version__}",
        "",
        "| input | batch | ours img/s | stock img/s | speed ours/stock | ours peak MiB | stock peak MiB "
        "| memory stock/ours | max abs diff |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['size']} px | {r['batch']} | {r['ours_ips']:.2f} | {r['stock_ips']:.2f} "
            f"| {r['ours_ips'] / r['stock_ips']:.3f} | {r['ours_mib']:.0f} | {r['stock_mib']:.0f} "
            f"| {r['stock_mib'] / max(r['ours_mib'], 1e-9):.3f} | {r['max_abs_diff']:.1e} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=None, help="batch at 224 px (CPU 4, GPU 32)")
    parser.add_argument("--batch-size-1024", type=int, default=None, help="batch at 1024 px (CPU 1, GPU 2)")
    parser.add_argument("--iters", type=int, default=None, help="timed passes per model (CPU 2, GPU 20)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[224, 1024], help="input sides (pixels)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (CPU)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    on_gpu = device.type == "cuda"
    if args.threads:
        torch.set_num_threads(args.threads)
    batch_224 = args.batch_size or (32 if on_gpu else 4)
    batch_1024 = args.batch_size_1024 or (2 if on_gpu else 1)
    iters = args.iters or (20 if on_gpu else 2)

    ours, stock = build_pair()
    ours.to(device)
    stock.to(device)
    rows = []
    for size in args.sizes:
        batch = batch_1024 if size >= 1024 else batch_224
        rows.append(bench_case(ours, stock, size, batch, iters, device))
        print(f"done: {size} px", flush=True)
    name = torch.cuda.get_device_name(device) if on_gpu else "cpu"
    print(format_table(rows, name, torch.get_num_threads()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
