"""compressor.testing as a pytest plugin: the tiny_bundle, tiny_model and compressor_registry fixtures."""

pytest_plugins = ["compressor.testing"]
