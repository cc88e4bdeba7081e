"""Models of the content app: channels, packages and their composition, and EPG."""

from .catalog import (
    MAX_ARCHIVE_DAYS,
    MAX_CHANNEL_NUMBER,
    NO_NUMBER_ORDER,
    TECHNICAL_NAME_PATTERN,
    AspectRatio,
    Channel,
    FreePackage,
    Package,
    PackageChannel,
    Quality,
)
from .epg import (
    ACTIVE_STATUSES,
    EPG_SOURCE_NAME_PATTERN,
    FINISHED_STATUSES,
    MAX_OFFSET_MINUTES,
    EpgFetch,
    EpgSource,
    EpgSourceChannel,
    FetchStatus,
    FetchTrigger,
    Program,
)
from .logos import LOGO_WIDTHS, LogoRendition, LogoSize
from .places import MAX_NETWORKS, Category, ChannelCategory, ChannelLocation, Location

__all__ = [
    "ACTIVE_STATUSES",
    "MAX_ARCHIVE_DAYS",
    "MAX_CHANNEL_NUMBER",
    "MAX_NETWORKS",
    "NO_NUMBER_ORDER",
    "AspectRatio",
    "Category",
    "ChannelCategory",
    "ChannelLocation",
    "Location",
    "Quality",
    "EPG_SOURCE_NAME_PATTERN",
    "FINISHED_STATUSES",
    "LOGO_WIDTHS",
    "TECHNICAL_NAME_PATTERN",
    "Channel",
    "MAX_OFFSET_MINUTES",
    "EpgFetch",
    "EpgSource",
    "EpgSourceChannel",
    "FetchStatus",
    "FetchTrigger",
    "FreePackage",
    "LogoRendition",
    "LogoSize",
    "Package",
    "PackageChannel",
    "Program",
]
