"""Classic computational photography in torch: image formation, response curves, merges, alignment, tone maps.

Differentiable where it can be; never imports neural-network models. ``align``
registers hand-held brackets (Ward's median threshold bitmaps, as OpenCV's
``AlignMTB``).
"""
