"""Operations on a PyTorch model as a whole: saving and loading it, pruning it structurally.

:mod:`compressor.model.checkpoint` writes and reads model files that survive pruning (the
changed layer shapes are stored with the weights); :mod:`compressor.model.pruning` removes
channels for real with torch-pruning's dependency graph.
"""
