from django.apps import AppConfig


class ContentConfig(AppConfig):
    name = "content"
    verbose_name = "Content"

    def ready(self):
        from django.core import checks

        from .checks import check_stream_names

        checks.register(check_stream_names)
