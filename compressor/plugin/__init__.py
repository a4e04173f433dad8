"""The plugin system: the pluggy manager, the registry of named records, the plugin scaffold.

:mod:`compressor.plugin.manager` loads the built-ins and every ``compressor`` entry point and
calls the hooks, through one typed method per hook (``pm.before_stage(stage, context)``, ...)
that names a plugin crashing in one; :mod:`compressor.plugin.registry` collects what the
registration hooks return into one table per kind. Nothing here imports torch: ``compressor
plugins`` lists plugins without it.
"""
