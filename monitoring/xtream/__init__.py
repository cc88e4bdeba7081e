"""The Xtream Codes API for IPTV players (players.md §3): ``player_api.php``, ``get.php``, ``xmltv.php`` and the
``live/`` and ``timeshift/`` redirects, served at a portal's host root when its ``xtreamApi`` setting is on.

It lives in ``monitoring`` (the layer above ``subscribers``) because ``user_info`` counts the subscriber's open
play sessions; every other answer comes from the access rule (``subscribers.access``) and its cache
(``subscribers.playback_cache``), so a block, an expiry, an unsubscription, a token or password reset takes effect
on the next request.
"""
