"""Exceptions with messages that name the offending input.

Everything the package raises for bad input derives from :class:`NNPDistillError`, so the CLI can
print one clean line instead of a traceback.
"""


class NNPDistillError(Exception):
    """Base class for errors caused by bad input or bad state, not by bugs."""


class PotentialFileError(NNPDistillError):
    """A potential file is malformed, truncated or of an unknown format."""


class ElementNotFoundError(NNPDistillError):
    """The requested element is not in a potential file or the registry."""


class FrameStoreError(NNPDistillError):
    """A frame store is missing, corrupted, truncated or of another format version."""


class ConfigError(NNPDistillError):
    """A configuration breaks the schema or is inconsistent."""


class DatasetError(NNPDistillError):
    """A dataset does not fit the model (other element, missing labels, mismatched shapes)."""
