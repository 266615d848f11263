"""The API's JSON parser: a body that could not be stored is refused at the door with a 400, never a 500."""

import json
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from common.hostile import describe, json_problem


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    number = float(text)
    if number in (float("inf"), float("-inf")):
        raise ValueError(f"{text} is too large a number")
    return number


class SafeJSONParser(JSONParser):
    """JSON with no NaN or Infinity, no number beyond a float's range (1e400), and a bounded nesting depth.

    Strings are left to each endpoint's validation, which refuses NUL and lone surrogates per item and field
    (``common.hostile.string_problem``), where a client can tell which of its events was at fault.
    """

    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        encoding = (parser_context or {}).get("encoding", "utf-8")
        try:
            text = stream.read().decode(encoding)
            data = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        problem = json_problem(data, text_problem=None)
        if problem:
            raise ParseError(f"JSON refused - {describe(problem, 'the body')}.")
        return data
