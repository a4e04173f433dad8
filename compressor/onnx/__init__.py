"""ONNX files without the PyTorch model that made them: what they say, and graph rewrites.

:mod:`compressor.onnx.inspection` reads a file's input, metadata, parameters and MACs;
:mod:`compressor.onnx.rewrite` folds the input normalization into the first layer and gives an
INT8 graph an integer input.
"""
