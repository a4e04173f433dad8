"""Detectors: the built-in ``dense_detector`` family and torchvision's detectors, both made to
follow the detector protocol of :mod:`compressor_detection.task`."""
