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

# Colours for boxes, lines and thumbnails, one per type (colour-blind friendly-ish, Okabe-Ito based).
EMOTION_COLOURS: dict[str, str] = {
    "HAPPY": "#E69F00",
    "SAD": "#0072B2",
    "ANGRY": "#D55E00",
    "CONFUSED": "#CC79A7",
    "DISGUSTED": "#009E73",
    "SURPRISED": "#F0E442",
    "CALM": "#B8B8B8",  # grey: neutral, and unlike SAD's blue
    "FEAR": "#7F3C8D",
}

# Shown wherever results are displayed (AWS documents this for Rekognition; it holds for ours).
EXPRESSION_DISCLAIMER = (
    "These are facial expressions as a model reads them, not a person's inner feelings."
)
