"""Small helpers of every layer: files (:mod:`.fs`), progress (:mod:`.progress`) and typed dataclasses from dicts
(:mod:`.typed`); they import nothing of vssl but :mod:`vssl.errors`."""
