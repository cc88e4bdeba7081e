"""IPTVPORTAL JSONSQL (``lifecycle.md`` §4): JSON-RPC 2.0 queries over the portal's own data.

``tables`` is the whitelist of tables and columns, ``compiler`` turns a ``select`` into a Django QuerySet (never
SQL text built from input), ``views`` answers ``POST /api/jsonrpc/`` and ``POST /api/jsonsql/``.
"""
