"""The Xtream Codes API in the served OpenAPI document (players.md §3).

Its views are plain Django views (``views``), which drf-spectacular does not see: this postprocessing hook adds
their paths, parameters and answers, so the document lists every HTTP interface Catena serves to players.
"""

from __future__ import annotations

CREDENTIALS = [
    {"name": "username", "in": "query", "required": True, "schema": {"type": "string"},
     "description": "The subscriber's login (its full phone number in digits until changed)."},
    {"name": "password", "in": "query", "required": True, "schema": {"type": "string"},
     "description": "The subscriber's player password."},
]
PORTAL_ID = {"name": "portalId", "in": "query", "required": False, "schema": {"type": "string"},
             "description": "The portal, on a host several portals share (else the Host's domain names it)."}
PATH_CREDENTIALS = [
    {"name": "username", "in": "path", "required": True, "schema": {"type": "string"}},
    {"name": "password", "in": "path", "required": True, "schema": {"type": "string"}},
]
STREAM = [
    {"name": "stream_id", "in": "path", "required": True, "schema": {"type": "integer"},
     "description": "The integer behind the channel's ID (``stream_id`` of get_live_streams)."},
    {"name": "ext", "in": "path", "required": True, "schema": {"type": "string", "enum": ["m3u8", "ts"]}},
]
ERROR = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _error(description: str) -> dict:
    return {"description": description, **ERROR}


NOT_SERVED = _error("Unknown portal, or its xtreamApi setting is off; or no such stream.")
THROTTLED = _error("20 wrong passwords from this address within a minute (Retry-After says when to try again).")
REDIRECT = {"description": "To the stream on the streaming server, with the subscriber's playback token.",
            "headers": {"Location": {"schema": {"type": "string", "format": "uri"}}}}


def _operation(operation_id: str, summary: str, parameters: list, responses: dict) -> dict:
    return {"get": {"operationId": operation_id, "summary": summary, "tags": ["xtream"], "security": [],
                    "parameters": parameters, "responses": responses}}


def xtream_paths() -> dict:
    """The OpenAPI ``paths`` of the Xtream Codes API."""
    return {
        "/player_api.php": _operation(
            "xtreamPlayerApi",
            "Log in (user_info, server_info) or run an action: get_live_categories, get_live_streams "
            "[&category_id], get_short_epg&stream_id[&limit], get_simple_data_table&stream_id, get_vod_categories, "
            "get_vod_streams, get_series_categories, get_series ([]).",
            [*CREDENTIALS, PORTAL_ID,
             {"name": "action", "in": "query", "required": False, "schema": {"type": "string", "enum": [
                 "get_live_categories", "get_live_streams", "get_short_epg", "get_simple_data_table",
                 "get_vod_categories", "get_vod_streams", "get_series_categories", "get_series"]}},
             {"name": "category_id", "in": "query", "required": False, "schema": {"type": "integer"}},
             {"name": "stream_id", "in": "query", "required": False, "schema": {"type": "integer"}},
             {"name": "limit", "in": "query", "required": False,
              "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 4}}],
            {"200": {"description": "The answer; {\"user_info\": {\"auth\": 0}} for wrong or missing credentials.",
                     "content": {"application/json": {"schema": {}}}},
             "400": _error("An unknown action, or a bad category_id or limit."), "404": NOT_SERVED,
             "429": THROTTLED}),
        "/get.php": _operation(
            "xtreamPlaylist", "The subscriber's extended M3U with Xtream stream URLs.",
            [*CREDENTIALS, PORTAL_ID,
             {"name": "type", "in": "query", "required": False, "schema": {"type": "string", "enum": ["m3u_plus"]}},
             {"name": "output", "in": "query", "required": False,
              "schema": {"type": "string", "enum": ["ts", "m3u8", "mpegts", "hls"], "default": "ts"}}],
            {"200": {"description": "Extended M3U.", "content": {"audio/x-mpegurl": {"schema": {"type": "string"}}}},
             "400": _error("Another type or output."), "401": _error("Wrong credentials."),
             "403": _error("The subscriber is blocked."), "404": NOT_SERVED, "429": THROTTLED}),
        "/xmltv.php": _operation(
            "xtreamGuide", "The subscriber's XMLTV guide, uncompressed.", [*CREDENTIALS, PORTAL_ID],
            {"200": {"description": "XMLTV.", "content": {"application/xml": {"schema": {"type": "string"}}}},
             "401": _error("Wrong credentials."), "403": _error("The subscriber is blocked."), "404": NOT_SERVED,
             "429": THROTTLED}),
        "/live/{username}/{password}/{stream_id}.{ext}": _operation(
            "xtreamLive", "Redirect to the channel's live stream.", [*PATH_CREDENTIALS, *STREAM, PORTAL_ID],
            {"302": REDIRECT, "400": _error("Another extension."),
             "403": _error("Refused: wrong credentials, blocked, expired, or a channel outside the packages."),
             "404": NOT_SERVED, "429": THROTTLED}),
        "/timeshift/{username}/{password}/{minutes}/{start}/{stream_id}.{ext}": _operation(
            "xtreamTimeshift", "Redirect to the channel's archive from start (UTC) for minutes.",
            [*PATH_CREDENTIALS,
             {"name": "minutes", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1,
                                                                            "maximum": 1440}},
             {"name": "start", "in": "path", "required": True,
              "schema": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}:\d{2}-\d{2}$"},
              "description": "YYYY-MM-DD:HH-MM, UTC; within the channel's archiveDays, before now."},
             *STREAM, PORTAL_ID],
            {"302": REDIRECT, "400": _error("A start outside the archive, in the future or malformed; bad minutes."),
             "403": _error("Refused as live/, or the channel keeps no archive."), "404": NOT_SERVED,
             "429": THROTTLED}),
    }


def add_xtream_paths(result, generator, request, public):
    """drf-spectacular postprocessing hook: the Xtream Codes API's paths."""
    result.setdefault("paths", {}).update(xtream_paths())
    return result
