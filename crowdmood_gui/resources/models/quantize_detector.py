#!/usr/bin/env python3
"""Build ``face_detector_int8.onnx`` from ``face_detector.onnx``: static int8 quantisation.

    pip install -e '.[models]'      # onnx (onnxruntime, which quantises, is a main dependency)
    python crowdmood_gui/resources/models/quantize_detector.py [--check]

Offline and deterministic: the input is the fp32 detector next to this script and the media
in ``tests/data`` (nothing is downloaded; two builds give the same bytes with the same
onnxruntime). ``build_models.py`` runs it after rebuilding the fp32 file.

Recipe (onnxruntime.quantization): the fp32 graph converted to opset 13 (per-channel
DequantizeLinear needs its ``axis``), ``quant_pre_process`` (shape inference, constant
folding), then ``quantize_static``: QDQ format, uint8 activations, int8 weights per output
channel, Percentile calibration (99.999 %: the activation ranges ignore the rarest
outliers, so the 8 bits resolve the common values more finely; MinMax gave boxes 4.7 %
off the fp32 ones on average, this 3.2 %), the output heads, the Softmax and the first two
backbone blocks left in fp32 (``FP32_HEADS``, ``FP32_FIRST_BLOCKS``). onnxruntime fuses the QDQ pairs into QLinearConv /
QLinearLeakyRelu at load time. The calibration set is what the console feeds the detector
(README "Crowds at a distance"): grid frames of ``tests/data/single_face.mp4`` (the crowd
grids of ``tests/core/crowd_grid.py``, 8x8 to 24x24, 1080p and 4K) as the low-resolution
pass sees them (640 px), a native-resolution tile of each, and each grid's refresh mosaic
(``pack_mosaic`` of the regions around every face, faces at ``REFRESH_FACE_PX``); plus
three photos of ``tests/data`` shrunk to 640 px. The chosen variant and the alternatives
measured (QOperator, per-tensor, depthwise convolutions left in fp32) are in the README.

``--check`` also compares the detections of both models on the calibration inputs.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]  # the repository: tests/data and tests/core/crowd_grid.py
FP32 = HERE / "face_detector.onnx"
INT8 = HERE / "face_detector_int8.onnx"
# (grid n, width, height, frame index): the crowds the calibration sees
CALIBRATION_GRIDS = ((8, 1920, 1080, 5), (12, 1920, 1080, 23), (16, 1920, 1080, 11), (24, 3840, 2160, 17))
CALIBRATION_PHOTOS = ("single_face.jpg", "multi_face.jpg", "0-f1-su-ph.jpg")
LOW_RES_SIDE = 640  # detection.max_side's default: the low-resolution pass
TILE_SIDE = 640  # detection.tile_px's default, at native resolution
CALIBRATION_SIDE = 640  # every calibration input is cut into squares of this side
# Left in fp32: the 1x1 output convolutions (box, score, landmarks; a sliver of the cost)
# and the Softmax, so scores and boxes are not rounded to 8 bits; and the backbone's first
# two blocks (the 3x3 conv on the 3-channel image, then a depthwise + pointwise pair): int8
# gains nothing there (the same ns per pixel either way) and their rounding was the largest
# share of the boxes' noise (centre sd 0.99 -> 0.73 % of the face, bench/README).
FP32_HEADS = ("class_head", "bbox_head", "landmark_head")
FP32_FIRST_BLOCKS = ("/fx/stage1/stage1.0/", "/fx/stage1/stage1.1/")


def calibration_images() -> list[np.ndarray]:
    """BGR images as the console hands them to the detector (see the module docstring)."""
    import cv2

    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "tests" / "core"))
    from crowd_grid import Grid, read_clip, reference_boxes

    from crowdmood_gui.core.crowd_detection import REFRESH_FACE_PX, REFRESH_REGION, pack_mosaic

    frames = read_clip()
    boxes = reference_boxes(frames)  # found by the fp32 detector
    images = []
    for n, width, height, index in CALIBRATION_GRIDS:
        image, truth = Grid(frames, boxes, n, width, height).frame(index)
        scale = LOW_RES_SIDE / max(width, height)
        images.append(cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA))
        images.append(np.ascontiguousarray(image[:TILE_SIDE, :TILE_SIDE]))
        regions, scales = [], []
        for x1, y1, x2, y2 in truth:
            side = REFRESH_REGION * max(x2 - x1, y2 - y1)
            cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
            regions.append((max(0, int(cx - side / 2)), max(0, int(cy - side / 2)),
                            min(width, int(cx + side / 2) + 1), min(height, int(cy + side / 2) + 1)))
            scales.append(min(1.0, REFRESH_FACE_PX / min(x2 - x1, y2 - y1)))
        images.append(pack_mosaic(image, regions, scales)[0])
    for name in CALIBRATION_PHOTOS:
        photo = cv2.imread(str(ROOT / "tests" / "data" / name))
        if photo is None:
            raise SystemExit(f"cannot read the calibration photo tests/data/{name}")
        scale = min(1.0, LOW_RES_SIDE / max(photo.shape[:2]))
        images.append(cv2.resize(photo, (round(photo.shape[1] * scale), round(photo.shape[0] * scale)),
                                 interpolation=cv2.INTER_AREA))
    return images


def _squares(blob: np.ndarray, side: int = CALIBRATION_SIDE) -> list[np.ndarray]:
    """The blob cut into side x side pieces, the last row/column padded with zeros (the mean
    colour, as the mosaic's border): the histogram calibrators need one input shape."""
    _, channels, height, width = blob.shape
    pieces = []
    for y in range(0, height, side):
        for x in range(0, width, side):
            piece = np.zeros((1, channels, side, side), np.float32)
            part = blob[:, :, y:y + side, x:x + side]
            piece[:, :, :part.shape[2], :part.shape[3]] = part
            pieces.append(piece)
    return pieces


def quantize(fp32: Path = FP32, out: Path = INT8) -> str:
    """Write the int8 model; returns its sha256."""
    import onnx
    import onnxruntime
    from onnx import version_converter
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from crowdmood_gui.core.detection import FaceDetector

    blobs = [square for image in calibration_images() for square in _squares(FaceDetector.input_blob(image))]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._feeds = iter({"input": b} for b in blobs)

        def get_next(self):
            return next(self._feeds, None)

    with tempfile.TemporaryDirectory() as tmp:
        opset13, prepared = Path(tmp) / "opset13.onnx", Path(tmp) / "prepared.onnx"
        onnx.save(version_converter.convert_version(onnx.load(str(fp32)), 13), str(opset13))
        quant_pre_process(str(opset13), str(prepared), skip_symbolic_shape=True)
        heads = [node.name for node in onnx.load(str(prepared)).graph.node
                 if (node.op_type == "Conv" and node.name.split("/")[1] in FP32_HEADS)
                 or node.name.startswith(FP32_FIRST_BLOCKS) or node.op_type == "Softmax"]
        quantize_static(str(prepared), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.Percentile, nodes_to_exclude=heads)
    model = onnx.load(str(out))
    source = hashlib.sha256(fp32.read_bytes()).hexdigest()
    onnx.helper.set_model_props(model, {
        "source": f"face_detector.onnx sha256 {source}",
        "quantisation": f"onnxruntime {onnxruntime.__version__} quantize_static: QDQ, uint8 activations, "
                        "int8 per-channel weights, output heads, Softmax and stage1.0-1 in fp32, Percentile 99.999 "
                        "calibration over tests/data crowd grids, tiles, mosaics, photos",
    })
    onnx.checker.check_model(model)
    onnx.save(model, str(out))
    return hashlib.sha256(out.read_bytes()).hexdigest()


def compare(fp32: Path = FP32, int8: Path = INT8) -> None:
    """Faces each model finds on the calibration inputs (IoU >= 0.5 between the two)."""
    from crowdmood_gui.core.detection import FaceDetector
    from crowdmood_gui.core.tracking import iou_matrix

    reference, quantised = FaceDetector(fp32, max_side=0), FaceDetector(int8, max_side=0)
    for i, image in enumerate(calibration_images()):
        a, b = reference.detect(image), quantised.detect(image)
        same = 0
        if a and b:
            iou = iou_matrix(np.array([[d.x1, d.y1, d.x2, d.y2] for d in a]), np.array([[d.x1, d.y1, d.x2, d.y2] for d in b]))
            same = int((iou.max(axis=1) >= 0.5).sum())
        print(f"input {i} {image.shape[1]}x{image.shape[0]}: fp32 {len(a)} faces, int8 {len(b)}, {same} of fp32's in both")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fp32", type=Path, default=FP32)
    parser.add_argument("--out", type=Path, default=INT8)
    parser.add_argument("--check", action="store_true", help="also compare the two models' detections")
    args = parser.parse_args(argv)
    digest = quantize(args.fp32, args.out)
    print(f"{args.out.name}: {args.out.stat().st_size} bytes, sha256 {digest}")
    if args.check:
        compare(args.fp32, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
