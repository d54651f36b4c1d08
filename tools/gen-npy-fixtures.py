#!/usr/bin/python3
"""Writes the .npy files tests/test_npy.c reads (tests/data/npy/) with
NumPy's own writer, so that the reader is checked against the format as
NumPy writes it. Values follow formulas the test recomputes. Needs Debian's
python3-numpy only to regenerate them."""
import os

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "npy")
os.makedirs(OUT, exist_ok=True)


def save(name, a, version=None):
    with open(os.path.join(OUT, name), "wb") as f:
        np.lib.format.write_array(f, a, version=version, allow_pickle=False)


# Signals [3, 2, 5], value i * 0.5 - 1 at flat index i; labels 2, 0, 1.
save("signals_f32.npy", (np.arange(30, dtype=np.float32) * 0.5 - 1).reshape(3, 2, 5))
save("labels_i64.npy", np.array([2, 0, 1], dtype=np.int64))
# Negative labels in 16 bits (-100 is the ignore index).
save("labels_i16.npy", np.array([-100, 7, -1], dtype=np.int16))
# Images [2, 1, 3, 4] of bytes 10 * i mod 256, format version 2; labels as uint8.
save("images_u8.npy", ((np.arange(24) * 10) % 256).astype(np.uint8).reshape(2, 1, 3, 4), (2, 0))
save("labels_u8.npy", np.array([1, 1], dtype=np.uint8))
# Volumes [2, 1, 2, 2, 2] in float64, value i / 8 - 0.75, and per-voxel label
# maps [2, 2, 2, 2] of int32, (i * 7) % 3.
save("volumes_f64.npy", (np.arange(16, dtype=np.float64) / 8 - 0.75).reshape(2, 1, 2, 2, 2))
save("maps_i32.npy", ((np.arange(16) * 7) % 3).astype(np.int32).reshape(2, 2, 2, 2))
# What nncl_dataset_save_npy must write, byte for byte, for the datasets
# loaded from the files above.
save("labels_i32.npy", np.array([2, 0, 1], dtype=np.int32))
save("images_u8_v1.npy", ((np.arange(24) * 10) % 256).astype(np.uint8).reshape(2, 1, 3, 4))
save("labels_u8_as_i32.npy", np.array([1, 1], dtype=np.int32))
save("volumes_f32.npy", (np.arange(16, dtype=np.float32) / 8 - 0.75).reshape(2, 1, 2, 2, 2))
# Refused: Fortran order, big-endian, floating-point labels.
save("fortran_f32.npy", np.asfortranarray(np.arange(30, dtype=np.float32).reshape(3, 2, 5)))
save("big_endian.npy", np.arange(30, dtype=">f4").reshape(3, 2, 5))
save("labels_f32.npy", np.array([2, 0, 1], dtype=np.float32))
