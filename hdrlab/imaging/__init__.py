"""Classic computational photography in torch: image formation, response curves, tone maps.

Differentiable where it can be; never imports neural-network models.
"""
