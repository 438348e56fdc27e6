"""PatchCamelyon (PCam): 327,680 96x96 H&E patches of lymph-node sections (Camelyon16), binary tumour label.

Accepted layout (the official files, gunzipped; the ``.h5.gz`` archives must be decompressed)::

    <data_dir>/camelyonpatch_level_2_split_train_x.h5     key "x": (262144, 96, 96, 3) uint8
    <data_dir>/camelyonpatch_level_2_split_train_y.h5     key "y": (262144, 1, 1, 1) uint8 (optional)
    (valid/test files and *_meta.csv are ignored)

LVM-Med used the official training file (its list names ``camelyonpatch_level_2_split_train_x.h5``).
One record per range of 4096 frames (``slice_index`` = frame number in the whole file, the
``volume_id`` ends in ``@<start>``); the label of each patch (1 = tumour tissue in the centre
32x32 px) is read from the ``_y`` file when present, else left empty.
Verified: file names (``_train_x`` / ``_train_y``, shipped as ``.h5.gz`` on Zenodo 2546921) and keys
``x`` / ``y`` from public PCam loaders; the training file name from the LVM-Med list.
"""

from pathlib import Path

import numpy as np

from lvmmed_hf.data.builder import LvmMedSourceBuilder, Record
from lvmmed_hf.data.readers import hdf5_length

X_NAME = "camelyonpatch_level_2_split_train_x.h5"
Y_NAME = "camelyonpatch_level_2_split_train_y.h5"
FRAMES_PER_RECORD = 4096


class PatchCamelyon(LvmMedSourceBuilder):
    source_name = "patchcamelyon"
    pretty_name = "PatchCamelyon (PCam)"
    description = (
        "96x96 px H&E patches from Camelyon16 lymph-node whole-slide images, labelled tumour / no tumour."
    )
    homepage = "https://github.com/basveeling/pcam"
    license = "CC0 1.0"
    access = "direct download (Google Drive / Zenodo 2546921), no registration"
    citation = """@inproceedings{veeling2018rotation,
  title={Rotation Equivariant {CNN}s for Digital Pathology},
  author={Veeling, Bastiaan S and Linmans, Jasper and Winkens, Jim and Cohen, Taco and Welling, Max},
  booktitle={MICCAI}, pages={210--218}, year={2018}
}"""
    modality = "histopathology"
    organ = "lymph node"
    dimensionality = "2d"
    split_rule = "official_train"
    layout = f"{X_NAME} (HDF5 key 'x', gunzipped) [+ {Y_NAME} key 'y']"
    label_names = ["no_tumor", "tumor"]
    lvmmed_file_list = "0_SSL_PatchCamelyon_Color_Cells"
    file_list_match = "path"
    records_per_shard = 8  # 8 x 4096 patches per Parquet shard, so --num-proc can split the one file

    def iter_records(self, data_dir: Path):
        x = data_dir / X_NAME
        if not x.is_file():
            if (data_dir / (X_NAME + ".gz")).is_file():
                raise self.missing_data_error(f"found {X_NAME}.gz in '{data_dir}'; gunzip it first")
            return
        n = hdf5_length(x, "x")
        for start in range(0, n, FRAMES_PER_RECORD):
            stop = min(n, start + FRAMES_PER_RECORD)
            yield Record(
                paths=x,
                patient_id=f"{x.stem}@{start}",
                reader="hdf5",
                reader_options={"key": "x", "start": start, "stop": stop},
            )

    def examples_from_record(self, record, report):
        # labels are per patch, a Record holds one: read the y range and set it per frame
        y_path = record.paths[0].with_name(Y_NAME)
        labels = None
        if y_path.is_file():
            import h5py

            opts = record.reader_options
            with h5py.File(y_path, "r") as f:
                labels = np.asarray(f["y"][opts["start"] : opts["stop"]]).reshape(-1)
        for ex in super().examples_from_record(record, report):
            if labels is not None:
                ex["label"] = int(labels[ex["slice_index"] - record.reader_options["start"]])
            yield ex
