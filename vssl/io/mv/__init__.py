"""Exported motion vectors -> the cache's dense field: :mod:`.raster` (numpy reference and the
dispatch to the compiled kernel), :mod:`._jit` (the numba kernel)."""
