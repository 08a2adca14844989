"""Reading and re-encoding compressed video with PyAV (and mvextractor).

- :mod:`.probe`: open a file, probe its first video stream (codec, size, GOPs, rotation, x264 settings);
- :mod:`.frames`: :class:`~.frames.DecodedFrame`, the decoders' common output, and frame images;
- :mod:`.decode_pyav` / :mod:`.decode_mvx`: one decoder per file, frames with exported motion vectors;
- :mod:`.encode`: the one canonical H.264 re-encode (streaming, or to a file).

Motion vectors from the decoders are turned into the cache's dense field by :mod:`vssl.io.mv.raster`.
"""
