"""MitoEM: two serial-section electron microscopy volumes (human and rat cortex), as PNG slices.

Accepted layout (the challenge's ``EM30-H-im.zip`` / ``EM30-R-im.zip`` each unpack to ``im/``,
so each goes in its own folder; label zips ``EM30-{H,R}-mito-train-val-v2.zip`` next to it)::

    <data_dir>/<stack>/im/im<zzzz>.png                 (z = 0000..0999, 4096 x 4096, 8-bit)
    <data_dir>/<stack>/mito-train-v2/seg<zzzz>.tif     (z = 0..399, instance ids -> ``mask``)
    <data_dir>/<stack>/mito-val-v2/seg<zzzz>.tif       (z = 400..499)
    <data_dir>/im/im<zzzz>.png                         (a single stack unpacked in place)

``<stack>`` is any folder name (``MitoEM-H``, ``EM30-R``, ...): it becomes the ``volume_id``.
TIFF slices (``im<zzzz>.tif``) are accepted too. ``slice_index`` is the section number z.
True modality: electron microscopy (the paper's label says MRI/CT).

Split: LVM-Med's sample is by volume, but there are only two volumes (two specimens), so the
sampling unit is a 100-section slab of one stack (``patient_id`` ``<stack>/z<start>-<end>``;
MitoEM's own train/val/test partitions are 100-section multiples), keeping slabs whole.
Verified: LVM-Med's list ``MitoEM_SEM_Cells`` names slice stems ``im0400`` .. ``im0429``
(matched on the stem; the stem does not say which stack, so it selects those sections of every
stack present); ``im/im<zzzz>.png``, ``mito-train-v2/seg<zzzz>.tif`` and ``mito-val-v2`` from
public loaders of the challenge zips (pytorch_connectomics tutorial, torch-em).
"""

import re
from pathlib import Path

from lvmmed_hf.data.builder import Record
from lvmmed_hf.data.layouts.volumes_sources import MASK_PATH, MaskedSourceBuilder

_SLICE = re.compile(r"^im(\d{4})\.(png|tif|tiff)$", re.IGNORECASE)
SLAB = 100


class MitoEm(MaskedSourceBuilder):
    source_name = "mitoem"
    pretty_name = "MitoEM"
    description = (
        "Two 30 um cubic serial-section EM volumes (multi-beam SEM, 8 x 8 x 30 nm) of human temporal "
        "lobe and rat visual cortex, 1000 sections of 4096 x 4096 pixels each, with mitochondria "
        "instance labels for the first 500 sections."
    )
    homepage = "https://mitoem.grand-challenge.org/"
    license = "no standard licence stated; terms on the MitoEM challenge page, cite the MitoEM paper"
    access = "download the image and label zips from the MitoEM grand-challenge page (no DUA)"
    citation = """@inproceedings{wei2020mitoem,
  title={MitoEM Dataset: Large-scale 3D Mitochondria Instance Segmentation from EM Images},
  author={Wei, Donglai and Lin, Zudi and Franco-Barranco, Daniel and Wendt, Nils and Liu, Xingyu and Yin,
      Wenjie and Huang, Xin and Gupta, Aarush and Jang, Won-Dong and Wang, Xueying and others},
  booktitle={Medical Image Computing and Computer Assisted Intervention (MICCAI)},
  pages={66--76}, year={2020}
}"""
    modality = "electron microscopy"
    organ = "cells (cortex mitochondria)"
    dimensionality = "3d"
    split_rule = "random_20pct_by_volume"
    layout = "<stack>/im/im<zzzz>.png (+ <stack>/mito-{train,val}-v2/seg<zzzz>.tif)"
    lvmmed_file_list = "MitoEM_SEM_Cells"
    file_list_match = "stem"
    records_per_shard = 100

    def iter_records(self, data_dir: Path):
        im_dirs = sorted(d for d in set(data_dir.glob("im")) | set(data_dir.glob("*/im")) if d.is_dir())
        for im_dir in im_dirs:
            stack_dir = im_dir.parent
            stack = stack_dir.name if stack_dir != data_dir else (data_dir.name or "MitoEM")
            segs = {}
            for seg_dir in sorted(stack_dir.glob("mito-*")):
                for s in seg_dir.glob("seg*.tif*"):
                    segs.setdefault(s.name.split(".")[0][3:], s)
            for p in sorted(im_dir.iterdir()):
                m = _SLICE.match(p.name)
                if not m:
                    continue
                z = int(m.group(1))
                slab = (z // SLAB) * SLAB
                seg = segs.get(m.group(1))
                yield Record(
                    paths=p,
                    patient_id=f"{stack}/z{slab:04d}-{slab + SLAB - 1:04d}",
                    volume_id=stack,
                    reader="image",
                    extras={MASK_PATH: seg, "z": z} if seg else {"z": z},
                )

    def examples_from_record(self, record, report):
        for ex in super().examples_from_record(record, report):
            ex["slice_index"] = int(record.extras["z"])  # section number, not -1 of a plain 2D image
            yield ex
