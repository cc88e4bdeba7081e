"""Signed webhooks (operations.md §3): a portal's operations POSTed to URLs of its billing or CRM.

``monitoring.operations`` holds the models and the outbox (deliveries queued in the operation's own transaction);
here: ``inputs`` (the one declaration of a webhook's fields), ``services`` (create, change, delete, send again),
``delivery`` (signing and sending, in order per webhook, with retries), ``views``/``forms`` (the screens). The API is
``monitoring.api.webhooks``; the Celery tasks are in ``monitoring.tasks``.
"""
