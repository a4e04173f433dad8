"""Audio datasets: ``audio_folder`` (your files), ``speech_commands``, ``spoken_digits``.

Each gives three map-style datasets of ``(Clip, label)`` (:class:`~compressor.data.audio.Clip`)
in a :class:`~compressor.data.DataBundle` with ``modality="audio"``; the run turns clips into
waveform inputs with :class:`~compressor.data.audio.AudioPreprocessing`.
"""
