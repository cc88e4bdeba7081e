"""The streaming server's side of Catena: playback authorization, session events, its API and a simulator."""
