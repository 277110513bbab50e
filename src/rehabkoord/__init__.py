"""Shared library of the rehabilitation-coordinator register study compendium.

Notebooks stay thin: parameters -> calls into these modules -> display.
"""

from . import determinism

__version__ = "0.1.0"

determinism.pin()  # before any stage imports numpy: the same bits on any machine
