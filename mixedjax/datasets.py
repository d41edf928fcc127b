"""Example data sets, with R's column types and factor levels (lme4's sleepstudy, cbpp, ...).

>>> from mixedjax import datasets
>>> sleepstudy = datasets.load("sleepstudy")          # lme4's data(sleepstudy)
>>> datasets.names()                                  # doctest: +ELLIPSIS
('Dyestuff', 'Dyestuff2', ...)
"""
from ._src.datasets import load, names, source

__all__ = ["load", "names", "source"]
