"""The API's JSON renderer: an answer that quotes what a client sent (an unknown name, a bad value) must render even
when that held a lone UTF-16 surrogate, which UTF-8 cannot encode."""

from typing import Any

from rest_framework.renderers import JSONRenderer


class SafeJSONRenderer(JSONRenderer):
    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        try:
            return super().render(data, accepted_media_type, renderer_context)
        except UnicodeEncodeError:
            # Escaped as \udXXX, the answer is valid JSON that says exactly what was received.
            self.ensure_ascii = True
            return super().render(data, accepted_media_type, renderer_context)
