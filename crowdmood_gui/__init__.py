"""crowdmood_gui: a desktop operator console for live crowd facial expressions.

Keep this module import-free: the Lambda zip ships ``crowdmood_gui.core.records``
and must be able to import the package without numpy, OpenCV or Qt.
"""

__version__ = "0.1.0"
