from .operations import Operation

__all__ = ["Operation"]
