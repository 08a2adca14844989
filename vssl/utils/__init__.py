"""Small helpers of every layer: files (:mod:`.fs`) and progress (:mod:`.progress`); they import nothing of vssl but
:mod:`vssl.errors`."""
