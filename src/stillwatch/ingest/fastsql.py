"""SQL that maps provider-logs-v1 JSON lines onto canonical exchange columns inside DuckDB.

This is the DuckDB side of the ingest fast path (:mod:`stillwatch.ingest.fastpath`). It computes,
for every line, the same canonical values as :func:`stillwatch.ingest.canonical.to_canonical`
plus a flag ``fast_ok``. A line is mapped here only when the mapping is known to agree exactly
with the Python mapper; every other line (a broken rule that needs its problems listed, a
construct the two JSON parsers read differently, unknown fields for ``extra``, IPv6, text long
enough to be cut) has ``fast_ok = false`` and goes to the Python mapper. The equality of the two
paths is asserted by ``tests/ingest/test_fastpath.py``.

Values are kept as JSON text and typed with ``json_type`` so that a wrong-typed field is a
null canonical value or a Python-path row, never a silent cast (DuckDB casts ``1`` to ``'1'``).
"""

from __future__ import annotations

#: Macros created once per connection. ``j`` arguments are JSON texts (or NULL).
MACROS = r"""
CREATE OR REPLACE TEMP MACRO sw_str(j) AS
    CASE WHEN json_type(j) = 'VARCHAR' THEN json_extract_string(j, '$') END;
CREATE OR REPLACE TEMP MACRO sw_int(j) AS
    CASE json_type(j)
        WHEN 'BIGINT' THEN TRY_CAST(j AS BIGINT)
        WHEN 'UBIGINT' THEN TRY_CAST(TRY_CAST(j AS UBIGINT) AS BIGINT)
        WHEN 'DOUBLE' THEN CASE WHEN TRY_CAST(j AS DOUBLE) = floor(TRY_CAST(j AS DOUBLE))
                                 AND TRY_CAST(j AS DOUBLE) >= -9223372036854775808.0
                                 AND TRY_CAST(j AS DOUBLE) < 9223372036854775808.0
                                THEN TRY_CAST(TRY_CAST(j AS DOUBLE) AS BIGINT) END
    END;
CREATE OR REPLACE TEMP MACRO sw_float(j) AS
    CASE WHEN json_type(j) IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN CAST(j AS DOUBLE) END;
CREATE OR REPLACE TEMP MACRO sw_dupfree(j) AS
    CASE WHEN left(j, 1) = '{' THEN len(json_keys(j)) = len(list_distinct(json_keys(j))) ELSE true END;
CREATE OR REPLACE TEMP MACRO sw_list(j) AS
    CASE WHEN left(j, 1) = '[' THEN json_transform(j, '["JSON"]') ELSE CAST([] AS JSON[]) END;
"""

_TOP_KNOWN = ("['ts','request_id','account_id','api_key_id','client_ip','forwarded_for','tls_ja4','http','request',"
              "'response']")
_HTTP_KNOWN = "['method','path','headers','header_order']"
_RESPONSE_KNOWN = "['status','latency_ms','usage','stop_reason','text','error_type']"
_BODY_KNOWN = ("['model','system','messages','tools','max_tokens','max_completion_tokens','temperature','top_p',"
               "'stream','thinking','metadata','user','reasoning_effort']")

#: Duplicate keys: orjson keeps the last value, DuckDB the first. A line with a duplicate key in the
#: record, ``http``, its headers, ``request``, ``response``, a message, a tool (or its ``function``),
#: ``thinking``, ``metadata`` or ``usage`` takes the Python path (so a crafted
#: ``{"content": "benign", "content": "evil"}`` reads as Python reads it). Content blocks are read
#: by the Python mapper's own function from their JSON, duplicates included.
#: Lines the two JSON parsers read differently (trailing commas, NaN/Infinity, exponents that
#: overflow a double) always take the Python path.
_PARSER_DIVERGENCE_RE = (r",\s*[\]}]|\\u[dD][89a-fA-F]|[:,\[]\s*-?(?i:nan|inf|infinity)\s*[,\]}]"
                         r"|[:,\[]\s*-?[0-9]+(\.[0-9]+)?[eE][+-]?[0-9]{3}")
#: The same pattern as four regexes that each start with one literal character, so RE2 skips to
#: that character with memchr instead of stepping its automaton over every byte: their union
#: is :data:`_PARSER_DIVERGENCE_RE` (asserted by a test), at a third of the cost (2.4 vs 7.3 us
#: per simulator line).
_NUMBER_DIVERGENCE = r"-?((?i:nan|inf|infinity)\s*[,\]}]|[0-9]+(\.[0-9]+)?[eE][+-]?[0-9]{3})"
PARSER_DIVERGENCE_PARTS = (rf":\s*{_NUMBER_DIVERGENCE}", rf",\s*([\]}}]|{_NUMBER_DIVERGENCE})",
                           rf"\[\s*{_NUMBER_DIVERGENCE}", r"\\u[dD][89a-fA-F]")
_PARSER_DIVERGENCE = " OR ".join(f"regexp_matches(raw, '{p}')" for p in PARSER_DIVERGENCE_PARTS)
_IPV4 = r"'^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$'"
_TS = (r"'^(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
       r"(\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$'")
_STRUCT = ('{"ts":"VARCHAR","request_id":"VARCHAR","account_id":"VARCHAR","api_key_id":"VARCHAR",'
           '"client_ip":"VARCHAR","forwarded_for":"VARCHAR","tls_ja4":"VARCHAR",'
           '"http":{"method":"VARCHAR","path":"VARCHAR","headers":"MAP(VARCHAR, JSON)","header_order":["JSON"]},'
           '"request":{"model":"VARCHAR","system":"VARCHAR","messages":[{"role":"VARCHAR","content":"VARCHAR"}],'
           '"tools":"JSON","max_tokens":"JSON","max_completion_tokens":"JSON","temperature":"DOUBLE",'
           '"top_p":"DOUBLE","stream":"BOOLEAN","thinking":"JSON","metadata":"JSON","user":"VARCHAR",'
           '"reasoning_effort":"VARCHAR"},'
           '"response":{"status":"JSON","latency_ms":"DOUBLE","usage":"JSON","stop_reason":"VARCHAR",'
           '"text":"VARCHAR","error_type":"VARCHAR"}}')
#: JSON paths whose type is read in one pass (the typed transform above casts leniently).
_PATHS = ("$", "$.ts", "$.request_id", "$.account_id", "$.api_key_id", "$.client_ip", "$.forwarded_for",
          "$.tls_ja4", "$.http", "$.request", "$.response", "$.http.method", "$.http.path", "$.http.headers",
          "$.http.header_order", "$.request.system", "$.request.model", "$.request.temperature", "$.request.top_p",
          "$.request.stream", "$.request.user", "$.request.reasoning_effort", "$.response.latency_ms",
          "$.response.stop_reason", "$.response.text", "$.response.error_type")


def _t(path: str) -> str:
    """SQL for the JSON type of ``path`` (from the one-pass type list ``ty``)."""
    return f"ty[{_PATHS.index(path) + 1}]"


def _str(path: str) -> str:
    field = "s" + path[1:]
    return f"CASE WHEN {_t(path)} = 'VARCHAR' THEN {field} END"


def _num(path: str) -> str:
    field = "s" + path[1:]
    return f"CASE WHEN {_t(path)} IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN {field} END"




_HEADERS = ["user-agent", "anthropic-beta", "anthropic-version", "x-stainless-lang", "x-stainless-package-version",
            "x-stainless-os", "x-stainless-arch", "x-stainless-runtime", "x-stainless-runtime-version"]


def _header(name: str) -> str:
    """SQL for the string value of header ``name`` (lower-cased names are distinct on this path)."""
    return f"sw_str(hv[list_position(hlk, '{name}')])"


_STAINLESS_PARTS = [f"coalesce({_header(h)}, '')" for h in _HEADERS[3:]]
#: Messages are typed and their keys listed in the same passes as the fields above, by index; a
#: request with more messages than this takes the Python path.
MAX_MESSAGES = 32
_MSG_PATHS = [f"$.request.messages[{i}]" for i in range(MAX_MESSAGES)]
_CONTENT_PATHS = [f"$.request.messages[{i}].content" for i in range(MAX_MESSAGES)]
_TYPES = ", ".join(f"'{p}'" for p in (*_PATHS, *_MSG_PATHS, *_CONTENT_PATHS))
_KEYS = ", ".join(f"'{p}'" for p in ("$", "$.http", "$.request", "$.response", *_MSG_PATHS))
_MTYPES = f"list_slice(ty, {len(_PATHS) + 1}, {len(_PATHS)} + len(m))"
_MKEYS = "list_slice(keys, 5, 4 + len(m))"
_CTYPES = f"list_slice(ty, {len(_PATHS) + MAX_MESSAGES + 1}, {len(_PATHS) + MAX_MESSAGES} + len(m))"

#: The mapping query over a relation ``chunk(source_line BIGINT, pos BIGINT, raw VARCHAR)``. Message-level
#: results come back as narrow per-message lists (object?, role, content kind, decoded string
#: content, JSON of array content); :mod:`stillwatch.ingest.fastcols` combines them column-wise.
SELECT = f"""
WITH parsed AS (
    SELECT source_line, pos,
           json_transform(raw, '{_STRUCT}') AS s,
           json_type(raw, [{_TYPES}]) AS ty,
           json_keys(raw, [{_KEYS}]) AS keys
    FROM chunk
    WHERE {{valid}}NOT ({_PARSER_DIVERGENCE}) AND strlen(raw) <= 1000000
), ok AS (
    SELECT *, {_str("$.ts")} AS ts_s, {_str("$.client_ip")} AS ip_s,
           map_keys(s.http.headers) AS hk,
           map_values(s.http.headers) AS hv,
           list_transform(map_keys(s.http.headers), k -> lower(k)) AS hlk,
           CASE WHEN {_t("$.http.header_order")} = 'ARRAY'
                THEN list_transform(s.http.header_order,
                                    n -> CASE WHEN left(n, 1) = '"' THEN json_extract_string(n, '$') END)
                END AS horder,
           s.request.messages AS m,
           CASE WHEN left(s.request.metadata, 1) = '{{' AND json_exists(s.request.metadata, '$.user_id')
                THEN json_extract(s.request.metadata, '$.user_id')
                WHEN {_t("$.request.user")} = 'VARCHAR' THEN to_json(s.request.user)
                WHEN {_t("$.request.user")} IS NULL OR {_t("$.request.user")} = 'NULL' THEN NULL
                ELSE '{{}}' END AS uid_j
    FROM parsed
)
SELECT
    source_line,
    pos,
    coalesce({_t("$")} = 'OBJECT' AND {_t("$.http")} = 'OBJECT' AND {_t("$.request")} = 'OBJECT'
     AND {_t("$.response")} = 'OBJECT'
     AND regexp_matches(ts_s, {_TS}) AND try_cast(ts_s AS TIMESTAMPTZ) IS NOT NULL
     AND regexp_matches(ip_s, {_IPV4})
     AND coalesce({_str("$.request_id")}, '') <> '' AND coalesce({_str("$.account_id")}, '') <> ''
     AND coalesce({_str("$.api_key_id")}, '') <> ''
     AND {_t("$.http.method")} = 'VARCHAR' AND s.http.method <> ''
     AND {_t("$.http.path")} = 'VARCHAR' AND s.http.path <> ''
     AND coalesce({_t("$.http.headers")}, 'NULL') IN ('NULL', 'OBJECT')
     AND sw_int(s.response.status) BETWEEN 100 AND 599
     AND len(list_distinct(keys[1])) = len(keys[1]) AND len(list_distinct(keys[2])) = len(keys[2])
     AND len(list_distinct(keys[3])) = len(keys[3]) AND len(list_distinct(keys[4])) = len(keys[4])
     AND list_has_all({_TOP_KNOWN}, keys[1]) AND list_has_all({_HTTP_KNOWN}, keys[2])
     AND list_has_all({_BODY_KNOWN}, keys[3]) AND list_has_all({_RESPONSE_KNOWN}, keys[4])
     AND len(coalesce(m, [])) <= {MAX_MESSAGES}
     AND NOT coalesce(list_bool_or(list_transform({_MKEYS}, k -> len(k) <> len(list_distinct(k)))), false)
     AND regexp_full_match(array_to_string(coalesce(hk, []), ''), '[A-Za-z0-9_.-]*')
     AND len(list_distinct(coalesce(hlk, []))) = len(coalesce(hlk, []))
     AND NOT regexp_matches(array_to_string(coalesce(horder, CAST([] AS VARCHAR[])), ''), '[^\x01-\x7f]')
     AND coalesce(json_type(uid_j), 'NULL') IN ('NULL', 'VARCHAR')
     AND sw_dupfree(s.request.thinking) AND sw_dupfree(s.request.metadata) AND sw_dupfree(s.response.usage)
     AND coalesce(list_bool_and(list_transform(sw_list(s.request.tools),
                                               t -> sw_dupfree(t) AND sw_dupfree(json_extract(t, '$.function')))),
                  true), false) AS fast_ok,
    s.request_id AS request_id,
    try_cast(ts_s AS TIMESTAMPTZ) AS ts,
    CAST(try_cast(ts_s AS TIMESTAMPTZ) AS DATE) AS day,
    s.account_id AS account_id,
    s.api_key_id AS api_key_id,
    ip_s AS client_ip,
    {_str("$.forwarded_for")} AS forwarded_for,
    {_str("$.tls_ja4")} AS tls_ja4,
    s.http.method AS http_method,
    s.http.path AS http_path,
    {_header("user-agent")} AS user_agent,
    {_header("anthropic-beta")} AS anthropic_beta,
    {_header("anthropic-version")} AS anthropic_version,
    CASE WHEN {" OR ".join(f"{p} <> ''" for p in _STAINLESS_PARTS)}
         THEN concat_ws('|', {", ".join(_STAINLESS_PARTS)}) END AS stainless,
    CASE WHEN horder IS NOT NULL AND NOT coalesce(list_bool_or(list_transform(horder, n -> n IS NULL)), false)
         THEN list_transform(horder, n -> lower(n))
         ELSE list_sort(list_transform(list_filter(list_zip(coalesce(hlk, []), coalesce(hv, [])),
                                                   e -> left(e[2], 1) = '"'), e -> e[1])) END AS header_names,
    {_str("$.request.model")} AS model,
    contains(coalesce({_str("$.http.path")}, ''), 'chat/completions') AS path_openai,
    list_contains(keys[3], 'system') AS has_system,
    CASE {_t("$.request.system")} WHEN 'VARCHAR' THEN s.request.system WHEN 'ARRAY' THEN NULL ELSE '' END
        AS system_str,
    CASE WHEN {_t("$.request.system")} = 'ARRAY' THEN s.request.system END AS system_json,
    CASE WHEN m IS NULL THEN [] ELSE list_transform({_MTYPES}, t -> t = 'OBJECT') END AS m_obj,
    list_transform(m, x -> x.role) AS m_role,
    list_transform(m, x -> CASE WHEN x.role IN ('user', 'system', 'developer') THEN x.content END) AS m_content,
    CASE WHEN m IS NULL THEN [] ELSE {_CTYPES} END AS m_ctype,
    list_filter(list_transform(sw_list(s.request.tools), t ->
        CASE WHEN left(t, 1) <> '{{' THEN NULL
             WHEN json_type(t, '$.name') = 'VARCHAR' THEN json_extract_string(t, '$.name')
             WHEN coalesce(json_type(t, '$.name'), 'NULL') = 'NULL'
                  AND json_type(t, '$.function') = 'OBJECT'
                  AND json_type(t, '$.function.name') = 'VARCHAR'
             THEN json_extract_string(t, '$.function.name') END), x -> x IS NOT NULL) AS tool_names,
    coalesce(sw_int(s.request.max_tokens), sw_int(s.request.max_completion_tokens)) AS max_tokens,
    {_num("$.request.temperature")} AS temperature,
    {_num("$.request.top_p")} AS top_p,
    CASE WHEN {_t("$.request.stream")} = 'BOOLEAN' THEN s.request.stream END AS stream,
    CASE WHEN left(s.request.thinking, 1) = '{{'
              AND coalesce(sw_str(json_extract(s.request.thinking, '$.type')), '') <> ''
         THEN sw_str(json_extract(s.request.thinking, '$.type'))
         ELSE {_str("$.request.reasoning_effort")} END AS thinking_type,
    CASE WHEN left(s.request.thinking, 1) = '{{'
         THEN sw_int(json_extract(s.request.thinking, '$.budget_tokens')) END AS thinking_budget,
    sw_str(uid_j) AS metadata_user_id,
    CAST(sw_int(s.response.status) AS INTEGER) AS response_status,
    {_num("$.response.latency_ms")} AS latency_ms,
    CASE WHEN left(s.response.usage, 1) = '{{'
         THEN sw_int(json_extract(s.response.usage, '$.input_tokens')) END AS input_tokens,
    CASE WHEN left(s.response.usage, 1) = '{{'
         THEN sw_int(json_extract(s.response.usage, '$.output_tokens')) END AS output_tokens,
    {_str("$.response.stop_reason")} AS stop_reason,
    {_str("$.response.error_type")} AS error_type,
    {_str("$.response.text")} AS response_text
FROM ok
"""
#: The same query without the ``json_valid`` pass: a block of valid lines (the usual case) parses one
#: time less; a malformed line makes DuckDB raise, and the block is run again with :data:`SELECT`.
SELECT_ASSUMING_VALID = SELECT.replace("{valid}", "")
#: Duplicate header names make the headers map raise: this variant leaves such lines to Python.
SELECT_GUARDED = SELECT.replace(
    "{valid}", "CASE WHEN json_valid(raw) THEN len(json_keys(raw, '$.http.headers')) = "
               "len(list_distinct(json_keys(raw, '$.http.headers'))) ELSE false END AND ")
SELECT = SELECT.replace("{valid}", "json_valid(raw) AND ")
