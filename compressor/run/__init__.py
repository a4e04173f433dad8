"""Running a resolved recipe: the pipeline, its run folder, the stage cache, resuming.

:mod:`compressor.run.pipeline` runs the stages in order; :mod:`compressor.run.results` describes
and restores what a stage published; :mod:`compressor.run.cache` reuses unchanged stages;
:mod:`compressor.run.resume` reopens an interrupted run; :mod:`compressor.run.progress` draws
the bars.
"""
