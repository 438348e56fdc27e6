"""One-GPU check of graph-matching pretraining: one Markdown table (bench/gpu_check.sh runs it).

Rows: the loss share at the paper's local batch (R50 at 224 px, 200 images = 12 graphs of 16,
bf16 autocast on CUDA), the solver's graphs/s inside that loss, the backbone throughput of both
families against transformers' stock models with the same weights (ResNetModel,
SamVisionModel), the peak memory, and a short pretraining run on the embedded corpus.

    python bench/gpu_check.py --out gpu_check.md             # GPU: paper sizes, ~6-8 min
    python bench/gpu_check.py --tiny --out gpu_check.md      # CPU: tiny sizes, < 1 min (CI)
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import tempfile
import time
from contextlib import nullcontext

import torch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _autocast(device: torch.device, bf16: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()


def _timed(fn, device: torch.device, repeats: int) -> float:
    """Median seconds of ``fn()`` over ``repeats`` runs after one warm-up run."""
    fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def loss_share(preset: str, batch: int, size: int, device, bf16: bool, repeats: int) -> dict:
    """Backbone (+ projector) forward+backward on both views vs the graph-matching loss
    (graphs, GCN, affinities, both solves, backward) on the same local batch."""
    from lvmmed_hf.graph_matching.loss import GraphMatchingLossConfig
    from lvmmed_hf.training.pretraining import ModelArguments, build_model

    torch.manual_seed(0)
    model = build_model(ModelArguments(model_preset=preset), GraphMatchingLossConfig()).to(device).train()
    views = torch.randn(2 * batch, 3, size, size, device=device)
    boxes = torch.tensor([0.0, 0.0, 1.0, 1.0], device=device).repeat(batch, 1)
    gm = model.graph_matching

    def backbone_step():
        with _autocast(device, bf16):
            out = model.lvmmed(views, return_dict=True)
            z = model.projector(out.pooler_output)
        (z.float().sum() + out.last_hidden_state.float().mean()).backward()

    with torch.no_grad(), _autocast(device, bf16):
        out = model.lvmmed(views, return_dict=True)
        z0 = model.projector(out.pooler_output).float()
        y0 = out.last_hidden_state.float()

    def loss_step():
        z = z0.clone().requires_grad_(True)
        y = y0.clone().requires_grad_(True)
        result = gm(z[:batch], z[batch:], y[:batch], y[batch:], boxes, boxes)
        result.loss.backward()
        return result

    backbone = _timed(backbone_step, device, repeats)
    seconds_before = gm.timer.seconds
    loss = _timed(loss_step, device, repeats)
    graphs = batch // gm.config.graph_size
    solve_seconds = (gm.timer.seconds - seconds_before) / (repeats + 1)
    return {
        "backbone_s": backbone,
        "loss_s": loss,
        "graphs": graphs,
        "solver_graphs_per_s": 2 * graphs / max(solve_seconds, 1e-9),  # forward + backward solve
    }


def backbone_throughput(preset: str, batch: int, size: int, device, bf16: bool, repeats: int) -> dict:
    """Inference images/s of our backbone and of transformers' stock model with its weights
    (ViT: both with SAM's neck, which SamVisionModel always has)."""
    from lvmmed_hf.models.conversion import to_stock_model
    from lvmmed_hf.models.modeling_lvmmed_cnn import LvmMedCnnModel
    from lvmmed_hf.models.modeling_lvmmed_vit import LvmMedViTModel
    from lvmmed_hf.models.presets import get_preset, preset_config

    torch.manual_seed(0)
    family, _ = get_preset(preset)
    # SamVisionModel always ends with the 256-channel neck: compare with ours carrying one too
    overrides = {"image_size": size, "use_neck": True} if family == "vit" else {}
    config = preset_config(preset, **overrides)
    ours = (LvmMedCnnModel if family == "cnn" else LvmMedViTModel)(config).eval()
    stock = to_stock_model(ours).eval()
    ours, stock = ours.to(device), stock.to(device)
    x = torch.randn(batch, 3, size, size, device=device)
    result = {}
    for name, model in (("ours", ours), ("stock", stock)):

        def forward(model=model):
            with torch.no_grad(), _autocast(device, bf16):
                model(pixel_values=x)

        result[name] = batch / _timed(forward, device, repeats)
    return result


def short_pretraining(
    preset: str, seconds: float, batch: int, size: int, embedded_dir: str, device, logging_steps: int = 10
) -> dict:
    """Pretraining on the embedded corpus stopped after ``seconds`` of training."""
    from transformers import TrainerCallback

    from lvmmed_hf.graph_matching.loss import GraphMatchingLossConfig
    from lvmmed_hf.training.pretraining import (
        DataArguments,
        ModelArguments,
        PretrainingArguments,
        run_pretraining,
    )

    class StopAfter(TrainerCallback):
        def __init__(self):
            self.start = None

        def on_step_end(self, args, state, control, **kwargs):
            self.start = self.start or time.perf_counter()
            if time.perf_counter() - self.start >= seconds:
                control.should_training_stop = True

    with tempfile.TemporaryDirectory() as out:
        trainer = run_pretraining(
            ModelArguments(model_preset=preset),
            DataArguments(
                embedded=True,
                embedded_dir=embedded_dir,
                view_size=size,
                max_image_size=2 * size,
                views_on_device=True,
            ),
            GraphMatchingLossConfig(gumbel_scale=0.05, gcn_residual=True),
            PretrainingArguments(
                output_dir=os.path.join(out, "run"),
                per_device_train_batch_size=batch,
                max_steps=100_000,
                num_train_epochs=1000,
                lr_halvings=-1,
                lr_scheduler_type="constant",
                logging_steps=logging_steps,
                save_strategy="no",
                use_cpu=device.type == "cpu",
                bf16=device.type == "cuda",
                dataloader_num_workers=0 if device.type == "cpu" else 4,
                gpu_monitor=False,
                disable_tqdm=True,
            ),
            callbacks=[StopAfter()],
        )
    logs = [e for e in trainer.state.log_history if "matching_accuracy" in e]
    runtime = next((e["train_runtime"] for e in trainer.state.log_history if "train_runtime" in e), 0.0)
    return {
        "steps": trainer.state.global_step,
        "images_per_s": trainer.state.global_step * batch / max(runtime, 1e-9),
        "runtime": runtime,
        "first_accuracy": logs[0]["matching_accuracy"] if logs else float("nan"),
        "last_accuracy": logs[-1]["matching_accuracy"] if logs else float("nan"),
    }


def peak_memory_gib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux -> GiB


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes (CPU, CI): the table's shape only")
    parser.add_argument("--out", default="gpu_check.md", help="Markdown file to write")
    parser.add_argument("--embedded_dir", default=None, help="prepared embedded corpus (default: a temp dir)")
    parser.add_argument("--pretrain_seconds", type=float, default=None, help="default 180 (tiny: 8)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    bf16 = device.type == "cuda"
    if args.tiny:
        cnn, vit, batch, size, vit_size, repeats = "tiny_cnn", "tiny_vit", 16, 32, 64, 1
        pretrain_batch, pretrain_size, seconds = 16, 32, args.pretrain_seconds or 4.0
    else:
        cnn, vit, batch, size, vit_size, repeats = "resnet50", "vit_b", 200, 224, 224, 5
        pretrain_batch, pretrain_size, seconds = 64, 224, args.pretrain_seconds or 180.0
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    rows: list[tuple[str, str]] = []
    share = loss_share(cnn, batch, size, device, bf16, repeats)
    rows.append((f"{cnn} forward+backward, {2 * batch} views at {size} px", f"{share['backbone_s']:.4f} s"))
    rows.append(
        (f"graph-matching loss, {share['graphs']} graphs of 16 (fwd + bwd)", f"{share['loss_s']:.4f} s")
    )
    rows.append(
        ("loss share of the backbone step (goal < 5%)", f"{100 * share['loss_s'] / share['backbone_s']:.2f}%")
    )
    rows.append(("solver graphs/s (forward + backward solves)", f"{share['solver_graphs_per_s']:,.0f}"))
    for preset, side in ((cnn, size), (vit, vit_size)):
        tp = backbone_throughput(preset, max(2, batch // 4), side, device, bf16, repeats)
        rows.append(
            (
                f"{preset} inference at {side} px, images/s ours / stock transformers",
                f"{tp['ours']:,.1f} / {tp['stock']:,.1f} (x{tp['ours'] / tp['stock']:.2f})",
            )
        )
    rows.append(("peak memory of the measurements above", f"{peak_memory_gib(device):.2f} GiB"))
    embedded_dir = args.embedded_dir
    with tempfile.TemporaryDirectory() as tmp:
        if embedded_dir is None:
            from lvmmed_hf.data.embedded import prepare_embedded

            embedded_dir = os.path.join(tmp, "embedded_corpus")
            prepare_embedded(embedded_dir)
        run = short_pretraining(
            cnn, seconds, pretrain_batch, pretrain_size, embedded_dir, device, 1 if args.tiny else 10
        )
    rows.append(
        (
            f"pretraining {cnn} on the embedded corpus, stopped after {seconds:.0f} s, "
            f"batch {pretrain_batch}",
            f"{run['steps']} steps in {run['runtime']:.0f} s, {run['images_per_s']:,.1f} images/s, "
            "matching accuracy "
            f"{run['first_accuracy']:.3f} -> {run['last_accuracy']:.3f}",
        )
    )
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    header = (
        f"device: {device.type} ({name}), torch {torch.__version__}, "
        f"{'bf16 autocast' if bf16 else 'float32'}{', tiny sizes' if args.tiny else ''}\n\n"
    )
    table = header + "| measurement | value |\n|---|---:|\n" + "".join(f"| {a} | {b} |\n" for a, b in rows)
    with open(args.out, "w") as f:
        f.write(table)
    print(table)
    return table


if __name__ == "__main__":
    main()
