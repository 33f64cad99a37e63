"""How sharp a face is: one measure, computed once per crop.

The sampler gates crops on it (``sampling.min_sharpness``) and the local backend reports it
as Rekognition's ``Quality.Sharpness`` (0..100) without measuring the face a second time.

The measure is the variance of the Laplacian of the grey face, its longer side scaled *down*
to at most :data:`SIDE` px, so a big face and a small one of equal focus score alike (and a
400 px face costs no more). Never scaled up and never squashed to a square: interpolating a
small face up blurs it, so a sharp 40 px face read as soft (an earlier ``Quality`` formula
did that: a sharp portrait shrunk to 40 px scored 45-82 where the full-size face scored 69-91).
"""

from __future__ import annotations

import math

import numpy as np

SIDE = 96

# Quality.Sharpness = 100 * (1 - exp(-variance / QUALITY_SCALE)): 0 -> 0, 20 -> 5, 100 -> 23,
# 400 -> 64, 1000 -> 92. 390 keeps the 0..100 values of faces >= 96 px where the earlier
# formula (the face resized to 96x96) put them: the median over the 24 faces of tests/data,
# sharp and blurred by sigma 1.5 and 3 px. Sharp studio portraits score 72-96, the same faces
# blurred by sigma 3 px 14-30.
QUALITY_SCALE = 390.0


def sharpness(face: np.ndarray) -> float:
    """Variance of the Laplacian of ``face`` (BGR or grey), its longer side scaled down to <= 96 px."""
    import cv2  # here, as in core/expression.py: importing the module stays free of OpenCV

    if face is None or face.size == 0:
        return 0.0
    grey = cv2.cvtColor(face, cv2.COLOR_BGR2GRAY) if face.ndim == 3 else face
    h, w = grey.shape[:2]
    if h < 3 or w < 3:
        return 0.0
    scale = SIDE / max(h, w)
    if scale < 0.95:
        grey = cv2.resize(grey, (max(3, round(w * scale)), max(3, round(h * scale))), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def quality_sharpness(variance: float) -> float:
    """Rekognition's 0..100 ``Quality.Sharpness`` for a :func:`sharpness` value."""
    return min(100.0, max(0.0, 100.0 * (1.0 - math.exp(-max(0.0, variance) / QUALITY_SCALE))))
