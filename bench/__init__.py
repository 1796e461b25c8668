"""The salespulse benchmark suite: ``python -m bench`` (see bench/README.md).

Not part of the test suite: nothing here asserts a timing.
"""
