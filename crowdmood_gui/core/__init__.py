"""Qt-free core: configuration, models, capture, detection, tracking, backends, stores, AWS.

Nothing under this package may import PySide6 or pyqtgraph (tests/core/test_boundaries.py).
Keep this file import-free so the Lambda zip can ship single modules of it.
"""
