"""The scaled copies of channel logos that lists and players ask for instead of the uploaded image."""

from __future__ import annotations

from django.db import models

from .catalog import Channel


class LogoSize(models.TextChoices):
    """The renditions of a channel logo, by the width in pixels each is scaled to (``LOGO_WIDTHS``)."""

    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"


LOGO_WIDTHS = {LogoSize.SMALL: 64, LogoSize.MEDIUM: 160, LogoSize.LARGE: 512}


class LogoRendition(models.Model):
    """A channel's logo scaled to one ``LogoSize`` width, aspect kept, made once when the logo is uploaded.

    A size the original is not wider than has no rendition: the original is served for it as it is (never
    upscaled). The service that stores a logo replaces its renditions in the same transaction, and removing the
    logo (or the channel) removes them, so ``logoUrls`` never names a rendition that is not there.
    """

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="logo_renditions")
    size = models.CharField(max_length=6, choices=LogoSize.choices)
    image = models.BinaryField()
    content_type = models.CharField(max_length=40)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["channel", "size"], name="logo_rendition_unique_size")]

    def __str__(self) -> str:
        return f"{self.channel_id} {self.size} {self.width}×{self.height}"
