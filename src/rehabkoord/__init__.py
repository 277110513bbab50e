"""Shared library of the rehabilitation-coordinator register study compendium.

Notebooks stay thin: parameters -> calls into these modules -> display.
"""

__version__ = "0.1.0"
