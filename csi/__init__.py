"""csi-companion: runnable companion to Wang et al. (2021)."""

__version__ = "0.1.0"
