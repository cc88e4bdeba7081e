from . import SmsBackend


class HttpBackend(SmsBackend):
    """POSTs ``{"to", "text"}`` as JSON to ``SMS_HTTP_URL`` from a Celery task retried with backoff."""

    def send(self, to: str, text: str, portal_id: str) -> None:
        from subscribers.tasks import send_sms_http

        send_sms_http.delay(to, text, portal_id)
