"""Records: each family's tables, and the one place where API objects become typed rows.

``values.py`` converts values (counts that arrive as strings, nulls, the two time
fields); ``fields.py`` declares columns and what every table shares; ``result_typing.py``
types results from a table (in place, by generated code, for the usual shape);
``profiles.py`` and ``searches.py`` are the families' tables. Typing each value here,
once, is what lets the streams turn the SDK's per-record type conformance off.
"""
