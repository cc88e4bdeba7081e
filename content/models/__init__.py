"""Models of the content app: channels, packages and their composition, and EPG."""

from .catalog import TECHNICAL_NAME_PATTERN, Channel, FreePackage, Package, PackageChannel
from .epg import (
    ACTIVE_STATUSES,
    EPG_SOURCE_NAME_PATTERN,
    FINISHED_STATUSES,
    EpgFetch,
    EpgSource,
    FetchStatus,
    FetchTrigger,
    Program,
)
from .logos import LOGO_WIDTHS, LogoRendition, LogoSize

__all__ = [
    "ACTIVE_STATUSES",
    "EPG_SOURCE_NAME_PATTERN",
    "FINISHED_STATUSES",
    "LOGO_WIDTHS",
    "TECHNICAL_NAME_PATTERN",
    "Channel",
    "EpgFetch",
    "EpgSource",
    "FetchStatus",
    "FetchTrigger",
    "FreePackage",
    "LogoRendition",
    "LogoSize",
    "Package",
    "PackageChannel",
    "Program",
]
