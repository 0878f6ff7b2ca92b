"""An example fpbench plugin: the `mistakes` method and the `quantize` attack.

Both are registered by the entry points in pyproject.toml; nothing here imports
fpbench's registries.
"""
