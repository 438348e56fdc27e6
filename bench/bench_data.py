"""Data-path throughput: preparation (slices/s) and streaming into a torch DataLoader (images/s).

Generates its inputs on the fly (nothing downloaded):
  - DICOM: axial CT series (int16, 512 x 512, RescaleIntercept -1024), one folder per series;
  - NIfTI: CT volumes (int16, 512 x 512 x Z, .nii.gz);
  - JPEG: a folder of 512 x 512 RGB JPEGs (quality 90).
Prepares each with ``prepare_source`` (1 and 2 processes), then streams the prepared Parquet
(``load_dataset(..., streaming=True)``) through a DataLoader that decodes and resizes to 224 px
(num_workers 0 and 2). References measured in the same run: decoding the raw inputs only (the
reader alone, no writing) and decoding the stored PNG/JPEG bytes only (no datasets, no DataLoader).

    python bench/bench_data.py [--slices 256] [--jpegs 400] [--out /tmp/bench_data]
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import shutil
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

BUILDERS = textwrap.dedent(
    """
    from lvmmed_hf.data.builder import LvmMedSourceBuilder, Record
    from lvmmed_hf.data.readers import list_dicom_files


    class _Bench(LvmMedSourceBuilder):
        description = "benchmark input"
        homepage = "https://example.org"
        license = "CC0"
        access = "generated"
        organ = "abdomen"
        split_rule = "official_train"
        layout = "generated"


    class BenchDicom(_Bench):
        source_name = "bench_dicom"
        modality = "CT"
        dimensionality = "3d"
        records_per_shard = 1

        def iter_records(self, data_dir):
            for s in sorted(p for p in data_dir.iterdir() if p.is_dir()):
                yield Record(paths=list_dicom_files(s), reader="dicom_series")


    class BenchNifti(_Bench):
        source_name = "bench_nifti"
        modality = "CT"
        dimensionality = "3d"
        records_per_shard = 1

        def iter_records(self, data_dir):
            for p in sorted(data_dir.glob("*.nii.gz")):
                yield Record(paths=p, reader="nifti")


    class BenchJpeg(_Bench):
        source_name = "bench_jpeg"
        modality = "endoscopy"
        dimensionality = "2d"
        records_per_shard = 50

        def iter_records(self, data_dir):
            for p in sorted(data_dir.glob("*.jpg")):
                yield Record(paths=p, reader="image")
    """
)


def _phantom(z: int, size: int, seed: int) -> np.ndarray:
    """An abdomen-like HU volume (Z, H, W): air, a body ellipse with soft tissue, noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    body = ((yy - size / 2) / (0.38 * size)) ** 2 + ((xx - size / 2) / (0.45 * size)) ** 2 < 1
    vol = np.full((z, size, size), -1000, np.int16)
    for k in range(z):
        sl = np.where(body, 40 + rng.normal(0, 25, (size, size)), -1000)
        vol[k] = sl.astype(np.int16)
    return vol


def make_inputs(root: Path, n_slices: int, n_jpegs: int) -> dict[str, Path]:
    import nibabel as nib
    from PIL import Image
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    size = 512
    per_volume = 64
    n_vol = max(1, n_slices // per_volume)
    dicom, nifti, jpeg = root / "raw_dicom", root / "raw_nifti", root / "raw_jpeg"
    for d in (dicom, nifti, jpeg):
        d.mkdir(parents=True)
    for v in range(n_vol):
        vol = _phantom(per_volume, size, v)
        series = generate_uid()
        for k in range(per_volume):
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
            meta.MediaStorageSOPInstanceUID = generate_uid()
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds = Dataset()
            ds.file_meta = meta
            ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
            ds.Modality, ds.SeriesInstanceUID = "CT", series
            ds.ImageOrientationPatient = [1.0, 0, 0, 0, 1.0, 0]
            ds.ImagePositionPatient = [0.0, 0.0, float(k) * 2.5]
            ds.PixelSpacing = [0.7, 0.7]
            ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
            ds.Rows = ds.Columns = size
            ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
            ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
            ds.PixelData = (vol[k] + 1024).astype(np.int16).tobytes()
            (dicom / f"series{v}").mkdir(exist_ok=True)
            ds.save_as(dicom / f"series{v}" / f"{k:04d}.dcm", enforce_file_format=True)
        aff = np.diag([-0.7, -0.7, 2.5, 1.0])
        nib.save(nib.Nifti1Image(np.transpose(vol, (2, 1, 0)), aff), nifti / f"vol{v}.nii.gz")
    rng = np.random.default_rng(0)
    base = (np.stack(np.mgrid[:size, :size], -1).sum(-1) % 256).astype(np.uint8)
    for i in range(n_jpegs):
        img = np.stack([base, np.roll(base, i, 0), rng.integers(0, 256, (size, size), dtype=np.uint8)], -1)
        Image.fromarray(img).save(jpeg / f"{i:05d}.jpg", quality=90)
    return {"bench_dicom": dicom, "bench_nifti": nifti, "bench_jpeg": jpeg}


def _cpu() -> float:
    """CPU seconds of this process and its finished children (workers): the per-core cost, robust
    to other load on the machine, unlike wall time."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def reference_read(name: str, raw: Path) -> tuple[int, float]:
    """Slices/s of reading the raw inputs alone (our readers, no slicing or writing)."""
    from lvmmed_hf.data.readers import read_image_data

    t = _cpu()
    n = 0
    if name == "bench_dicom":
        for s in sorted(raw.iterdir()):
            n += read_image_data(s, "dicom_series").array.shape[0]
    elif name == "bench_nifti":
        for p in sorted(raw.glob("*.nii.gz")):
            n += read_image_data(p, "nifti").array.shape[2]
    else:
        for p in sorted(raw.glob("*.jpg")):
            read_image_data(p, "image")
            n += 1
    return n, _cpu() - t


def bench_prepare(root: Path, scripts: Path, raws: dict[str, Path]) -> list[tuple]:
    from lvmmed_hf.data.prepare import prepare_source

    rows = []
    for name, raw in raws.items():
        n_ref, t_ref = reference_read(name, raw)
        for procs in (1, 2):
            out = root / f"out_p{procs}"
            t, c = time.perf_counter(), _cpu()
            rep = prepare_source(name, raw, out, scripts_dirs=[scripts], num_proc=procs)
            dt, dc = time.perf_counter() - t, _cpu() - c
            n = rep.examples_written
            rows.append((name, procs, n, dt, n / dt, n / dc, n_ref / t_ref))
    return rows


class _Resize:
    """Decode (done by datasets) -> float tensor (C, 224, 224): the transform a pretraining collator runs."""

    def __call__(self, ex):
        import torch
        import torch.nn.functional as F

        img = ex["image"]
        arr = np.asarray(img)
        t = torch.from_numpy(arr.astype(np.float32))
        if t.ndim == 2:
            t = t[None]
        else:
            t = t.permute(2, 0, 1)
        t = F.interpolate(t[None], size=(224, 224), mode="bilinear", antialias=True, align_corners=False)[0]
        return t


class _ResizePil(_Resize):
    """The same output, resizing with Pillow before converting to float (cheaper)."""

    def __call__(self, ex):
        import torch
        from PIL import Image

        img = ex["image"]
        if img.mode == "I;16":
            img = img.convert("I")  # Pillow resamples 32-bit integer images, not I;16 with filters
        arr = np.asarray(img.resize((224, 224), Image.BILINEAR), dtype=np.float32)
        t = torch.from_numpy(arr)
        return t[None] if t.ndim == 2 else t.permute(2, 0, 1)


def bench_stream(out: Path, name: str, workers: int, limit: int, resize=None) -> tuple[int, float, float]:
    import datasets
    import torch

    ds = datasets.load_dataset(str(out), name, split="train", streaming=True)
    resize = resize or _Resize()
    ds = ds.map(lambda ex: {"pixel_values": resize(ex)}, remove_columns=list(ds.features))
    ds = ds.with_format("torch")
    loader = torch.utils.data.DataLoader(ds, batch_size=32, num_workers=workers)
    t, c = time.perf_counter(), _cpu()
    n = 0
    it = iter(loader)
    for batch in it:
        n += batch["pixel_values"].shape[0]
        if n >= limit:
            break
    dt = time.perf_counter() - t
    del it  # joins the workers, so their CPU time is counted
    return n, dt, _cpu() - c


def reference_decode(out: Path, name: str, limit: int, resize=None) -> tuple[int, float]:
    """Images/s of decoding the stored bytes and resizing alone (pyarrow + PIL + torch, one process)."""
    import pyarrow.parquet as pq
    from PIL import Image

    resize = resize or _Resize()
    t = _cpu()
    n = 0
    for shard in sorted((out / name).glob("train-*.parquet")):
        for row in pq.read_table(shard, columns=["image"]).column("image").to_pylist():
            resize({"image": Image.open(io.BytesIO(row["bytes"]))})
            n += 1
            if n >= limit:
                return n, _cpu() - t
    return n, _cpu() - t


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--slices", type=int, default=256, help="slices per 3D format (64 per volume)")
    p.add_argument("--jpegs", type=int, default=400)
    p.add_argument("--stream-limit", type=int, default=640, help="images streamed per measurement")
    p.add_argument("--out", default="/tmp/bench_data")
    args = p.parse_args(argv)
    import datasets
    import torch

    torch.set_num_threads(1)
    datasets.disable_progress_bars()
    datasets.config.SLEEP_TIME_ON_THREADS_SHUTDOWN = 0.05  # we close each stream early on purpose
    root = Path(args.out)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    scripts = root / "scripts"
    scripts.mkdir()
    (scripts / "bench_sources.py").write_text(BUILDERS)
    t = time.perf_counter()
    raws = make_inputs(root, args.slices, args.jpegs)
    print(f"inputs generated in {time.perf_counter() - t:.1f} s; {os.cpu_count()} CPUs", file=sys.stderr)

    prep = bench_prepare(root, scripts, raws)
    print(f"\nload average before the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print("\n## Preparation (raw -> Parquet)")
    print(
        "| input | processes | slices | wall s | slices/s (wall) | slices per CPU-second "
        "| read-only reference per CPU-s | ratio |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, procs, n, dt, rate, per_cpu, ref in prep:
        print(
            f"| {name[6:]} | {procs} | {n} | {dt:.1f} | {rate:.0f} | {per_cpu:.0f} | {ref:.0f} "
            f"| {per_cpu / ref:.2f} |"
        )

    print("\n## Streaming prepared Parquet -> DataLoader (decode + resize to 224)")
    print(
        "| source | resize | num_workers | images | images/s (wall) | images per CPU-second "
        "| decode-only reference per CPU-s | ratio | cores for 2,500 img/s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    out = root / "out_p1"
    for name in ("bench_jpeg", "bench_dicom"):
        for label, resize in (("torch float", _Resize()), ("Pillow", _ResizePil())):
            n_ref, c_ref = reference_decode(out, name, args.stream_limit, resize)
            ref = n_ref / c_ref
            for workers in (0, 2):
                n, dt, dc = bench_stream(out, name, workers, args.stream_limit, resize)
                per_cpu = n / dc
                print(
                    f"| {name[6:]} | {label} | {workers} | {n} | {n / dt:.0f} | {per_cpu:.0f} | {ref:.0f} "
                    f"| {per_cpu / ref:.2f} | {2500 / per_cpu:.0f} |"
                )
    print("\nGPU target: R50 pretraining >= 2,500 images/s (A100, mixed precision).")
    bench_views(out, args.stream_limit)
    return 0


def bench_views(out: Path, limit: int, batch: int = 32) -> list[tuple]:
    """CPU cost of the pretraining input per path, in one process (one core), on the prepared
    sources: ``views on CPU`` (the collator decodes, caps at 512 px and makes both 224 px views,
    the CPU default) and ``decode + resize only`` (``GraphMatchingCollator(on_device=True)``: the
    workers' share when the views are made on the GPU, the CUDA default), against decode + Pillow
    resize to 224 (the same reference as above). Prints the table and returns its rows."""
    import pyarrow.parquet as pq
    from PIL import Image

    from lvmmed_hf.training.collator import GraphMatchingCollator
    from lvmmed_hf.training.views import ViewAugmentationConfig

    paths = {
        "views on CPU (paper)": GraphMatchingCollator(ViewAugmentationConfig(), max_size=512),
        "views on CPU (medical)": GraphMatchingCollator(ViewAugmentationConfig.medical(), max_size=512),
        "decode + resize only (views on GPU)": GraphMatchingCollator(max_size=512, on_device=True),
    }
    rows = []
    for name in ("bench_jpeg", "bench_dicom"):
        stored = []
        for shard in sorted((out / name).glob("train-*.parquet")):
            stored += [
                r["bytes"] for r in pq.read_table(shard, columns=["image"]).column("image").to_pylist()
            ]
        stored = stored[:limit]
        n_ref, c_ref = reference_decode(out, name, limit, _ResizePil())
        ref = n_ref / c_ref
        for label, collator in paths.items():
            t = _cpu()
            for i in range(0, len(stored), batch):
                collator([{"image": Image.open(io.BytesIO(b))} for b in stored[i : i + batch]])
            per_cpu = len(stored) / (_cpu() - t)
            rows.append((name, label, len(stored), per_cpu, ref))
    print("\n## Pretraining input per CPU core: views on the CPU vs decode + resize only (views on the GPU)")
    print(
        "| source | path | images | images per CPU-second | cores per 1,000 img/s "
        "| decode + Pillow resize ref. | ratio |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, label, n, per_cpu, ref in rows:
        print(
            f"| {name[6:]} | {label} | {n} | {per_cpu:.0f} | {1000 / per_cpu:.1f} "
            f"| {ref:.0f} | {per_cpu / ref:.2f} |"
        )
    return rows


if __name__ == "__main__":
    sys.exit(main())
