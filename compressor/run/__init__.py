"""Running a resolved recipe: the pipeline, its run folder, the stage loop, the cache, resuming.

:mod:`compressor.run.pipeline` runs a plan (``pipeline.run``); :mod:`compressor.run.stages`
runs, restores or takes from the cache each stage in turn; :mod:`compressor.run.folder` stages,
publishes or keeps as failed the run folder; :mod:`compressor.run.metrics` writes its
``metrics.json``; :mod:`compressor.run.results` describes and restores what a stage published;
:mod:`compressor.run.cache` reuses unchanged stages; :mod:`compressor.run.resume` reopens an
interrupted run; :mod:`compressor.run.ranks` checks a plan for several processes;
:mod:`compressor.run.device` picks the device and seeds; :mod:`compressor.run.progress` draws
the bars.
"""
