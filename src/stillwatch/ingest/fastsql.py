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
        WHEN 'BIGINT' THEN CAST(j AS BIGINT)
        WHEN 'UBIGINT' THEN CASE WHEN CAST(j AS UBIGINT) <= 9223372036854775807
                                 THEN CAST(CAST(j AS UBIGINT) AS BIGINT) END
        WHEN 'DOUBLE' THEN CASE WHEN CAST(j AS DOUBLE) = floor(CAST(j AS DOUBLE))
                                 AND CAST(j AS DOUBLE) >= -9223372036854775808.0
                                 AND CAST(j AS DOUBLE) < 9223372036854775808.0
                                THEN CAST(CAST(j AS DOUBLE) AS BIGINT) END
    END;
CREATE OR REPLACE TEMP MACRO sw_float(j) AS
    CASE WHEN json_type(j) IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN CAST(j AS DOUBLE) END;
CREATE OR REPLACE TEMP MACRO sw_h(entries, name) AS
    list_filter(entries, e -> e.k = name)[-1].v;
CREATE OR REPLACE TEMP MACRO sw_arr(j) AS
    CASE WHEN json_type(j) = 'ARRAY' THEN json_extract(j, '$[*]') ELSE CAST([] AS JSON[]) END;
CREATE OR REPLACE TEMP MACRO sw_join(parts) AS
    CASE WHEN list_bool_or(list_transform(parts, p -> p IS NULL)) THEN NULL
         ELSE array_to_string(list_filter(parts, p -> p <> ''), chr(10)) END;
CREATE OR REPLACE TEMP MACRO sw_block0(b) AS
    CASE json_type(b)
        WHEN 'VARCHAR' THEN json_extract_string(b, '$')
        WHEN 'OBJECT' THEN
            CASE WHEN json_type(b, '$.text') = 'VARCHAR' THEN json_extract_string(b, '$.text')
                 WHEN json_type(b, '$.type') = 'VARCHAR' AND json_extract_string(b, '$.type') = 'tool_result'
                 THEN NULL
                 ELSE '' END
        ELSE '' END;
CREATE OR REPLACE TEMP MACRO sw_text0(c) AS
    CASE json_type(c)
        WHEN 'VARCHAR' THEN json_extract_string(c, '$')
        WHEN 'ARRAY' THEN sw_join(list_transform(sw_arr(c), b -> sw_block0(b)))
        ELSE '' END;
CREATE OR REPLACE TEMP MACRO sw_block1(b) AS
    CASE json_type(b)
        WHEN 'VARCHAR' THEN json_extract_string(b, '$')
        WHEN 'OBJECT' THEN
            CASE WHEN json_type(b, '$.text') = 'VARCHAR' THEN json_extract_string(b, '$.text')
                 WHEN json_type(b, '$.type') = 'VARCHAR' AND json_extract_string(b, '$.type') = 'tool_result'
                 THEN sw_text0(json_extract(b, '$.content'))
                 ELSE '' END
        ELSE '' END;
CREATE OR REPLACE TEMP MACRO sw_text(c) AS
    CASE json_type(c)
        WHEN 'VARCHAR' THEN json_extract_string(c, '$')
        WHEN 'ARRAY' THEN sw_join(list_transform(sw_arr(c), b -> sw_block1(b)))
        ELSE '' END;
"""

_TOP_KNOWN = ("['ts','request_id','account_id','api_key_id','client_ip','forwarded_for','tls_ja4','http','request',"
              "'response']")
_HTTP_KNOWN = "['method','path','headers','header_order']"
_RESPONSE_KNOWN = "['status','latency_ms','usage','stop_reason','text','error_type']"
_BODY_KNOWN = ("['model','system','messages','tools','max_tokens','max_completion_tokens','temperature','top_p',"
               "'stream','thinking','metadata','user','reasoning_effort']")

#: Duplicate keys: orjson keeps the last value, DuckDB's paths the first. Lines with a duplicate key
#: in the record, ``http``, ``request``, ``response`` or a message take the Python path; a duplicate
#: header name makes DuckDB's MAP fail and the whole block takes it. Duplicates deeper down (inside a
#: content block, a tool, ``thinking``, ``metadata``, ``usage``) are read as the first value here.
#: Lines the two JSON parsers read differently (trailing commas, NaN/Infinity, exponents that
#: overflow a double), or that may be nested deeper than orjson accepts: always the Python path.
_PARSER_DIVERGENCE = (r"',\s*[\]}]|[:,\[]\s*-?(?i:nan|inf|infinity)\s*[,\]}]"
                      r"|[:,\[]\s*-?[0-9]+(\.[0-9]+)?[eE][+-]?[0-9]{3}'")
_IPV4 = r"'^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$'"
_TS = (r"'^(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
       r"(\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$'")

#: The mapping query over a relation ``chunk(source_line BIGINT, raw VARCHAR)``.
SELECT = f"""
WITH src AS (
    SELECT source_line, raw,
           json_valid(raw)
           AND NOT regexp_matches(raw, {_PARSER_DIVERGENCE})
           AND strlen(raw) <= 1000000
           AND strlen(raw) - strlen(replace(replace(raw, '[', ''), '{{', '')) < 1000 AS parse_ok
    FROM chunk
), top AS (
    SELECT source_line,
           json_extract(raw, ['$.ts', '$.request_id', '$.account_id', '$.api_key_id', '$.client_ip',
                              '$.forwarded_for', '$.tls_ja4', '$.http', '$.request', '$.response']) AS v,
           json_keys(raw) AS keys
    FROM src WHERE parse_ok AND json_type(raw) = 'OBJECT'
), lvl AS (
    SELECT source_line, v[1] AS ts_j, v[2] AS rid_j, v[3] AS acct_j, v[4] AS key_j, v[5] AS ip_j,
           v[6] AS fwd_j, v[7] AS ja4_j, v[8] AS http_j, v[9] AS body, v[10] AS resp, keys
    FROM top
), checked AS (
    SELECT *,
           json_type(ts_j) = 'VARCHAR' AND regexp_matches(sw_str(ts_j), {_TS})
           AND try_cast(sw_str(ts_j) AS TIMESTAMPTZ) IS NOT NULL
           AND coalesce(sw_str(rid_j), '') <> '' AND coalesce(sw_str(acct_j), '') <> ''
           AND coalesce(sw_str(key_j), '') <> ''
           AND json_type(ip_j) = 'VARCHAR' AND regexp_matches(sw_str(ip_j), {_IPV4})
           AND json_type(http_j) = 'OBJECT' AND json_type(body) = 'OBJECT' AND json_type(resp) = 'OBJECT'
           AS top_ok
    FROM lvl
), obj AS (
    SELECT *,
           json_extract(http_j, ['$.method', '$.path', '$.headers', '$.header_order']) AS hv,
           json_keys(http_j) AS http_keys,
           json_extract(body, ['$.model', '$.system', '$.messages', '$.tools', '$.max_tokens',
                               '$.max_completion_tokens', '$.temperature', '$.top_p', '$.stream',
                               '$.thinking', '$.metadata', '$.user', '$.reasoning_effort']) AS bv,
           json_keys(body) AS body_keys,
           json_extract(resp, ['$.status', '$.latency_ms', '$.usage', '$.stop_reason', '$.text',
                               '$.error_type']) AS rv,
           json_keys(resp) AS resp_keys
    FROM checked WHERE top_ok
), body1 AS (
    SELECT *,
           list_transform(sw_arr(bv[3]), m -> {{
               'o': json_type(m) = 'OBJECT',
               'role': CASE WHEN json_type(m) = 'OBJECT' THEN json_extract_string(m, '$.role') END,
               'content': CASE WHEN json_type(m) = 'OBJECT' THEN json_extract(m, '$.content') END,
               'dup': json_type(m) = 'OBJECT' AND len(json_keys(m)) <> len(list_distinct(json_keys(m)))}}) AS msgs,
           CASE WHEN json_type(hv[3]) = 'OBJECT' THEN map_entries(json_transform(hv[3], '"MAP(VARCHAR, JSON)"'))
                END AS hent,
           CASE WHEN json_type(hv[4]) = 'ARRAY'
                THEN list_transform(sw_arr(hv[4]), n -> CASE WHEN json_type(n) = 'VARCHAR'
                                                             THEN json_extract_string(n, '$') END) END AS horder
    FROM obj
), body2 AS (
    SELECT *,
           contains(sw_str(hv[2]), 'chat/completions')
           OR (NOT list_contains(body_keys, 'system')
               AND coalesce(list_bool_or(list_transform(msgs, m -> m.o AND m.role = 'system')), false)) AS is_openai,
           list_filter(msgs, m -> m.o) AS dmsgs,
           coalesce(list_transform(hent, e -> e.key), CAST([] AS VARCHAR[])) AS hkeys,
           coalesce(list_transform(list_filter(hent, e -> json_type(e.value) = 'VARCHAR'),
                                   e -> {{'k': lower(e.key), 'v': json_extract_string(e.value, '$')}}),
                    CAST([] AS STRUCT(k VARCHAR, v VARCHAR)[])) AS hlow
    FROM body1
), mapped AS (
    SELECT *,
           sw_join(list_concat(CASE WHEN is_openai THEN CAST([] AS VARCHAR[]) ELSE [sw_text(bv[2])] END,
                               list_transform(list_filter(dmsgs, m -> m.role IN ('system', 'developer')),
                                              m -> sw_text(m.content)))) AS system_joined,
           list_transform(list_filter(dmsgs, m -> m.role = 'user'), m -> sw_text(m.content)) AS user_texts,
           CASE WHEN json_type(bv[11]) = 'OBJECT' AND json_exists(bv[11], '$.user_id')
                THEN json_extract(bv[11], '$.user_id') ELSE bv[12] END AS uid_j
    FROM body2
)
SELECT
    source_line,
    coalesce(json_type(hv[1]) = 'VARCHAR' AND sw_str(hv[1]) <> ''
     AND json_type(hv[2]) = 'VARCHAR' AND sw_str(hv[2]) <> ''
     AND coalesce(json_type(hv[3]), 'NULL') IN ('NULL', 'OBJECT')
     AND sw_int(rv[1]) BETWEEN 100 AND 599
     AND len(list_distinct(keys)) = len(keys) AND len(list_distinct(http_keys)) = len(http_keys)
     AND len(list_distinct(body_keys)) = len(body_keys) AND len(list_distinct(resp_keys)) = len(resp_keys)
     AND NOT coalesce(list_bool_or(list_transform(msgs, m -> m.dup)), false)
     AND list_has_all({_TOP_KNOWN}, keys) AND list_has_all({_HTTP_KNOWN}, http_keys)
     AND list_has_all({_RESPONSE_KNOWN}, resp_keys) AND list_has_all({_BODY_KNOWN}, body_keys)
     AND NOT regexp_matches(array_to_string(list_concat(hkeys, coalesce(horder, CAST([] AS VARCHAR[]))), ''),
                            '[^\x01-\x7f]')
     AND len(list_distinct(list_transform(hkeys, k -> lower(k)))) = len(hkeys)
     AND system_joined IS NOT NULL
     AND NOT coalesce(list_bool_or(list_transform(user_texts, t -> t IS NULL)), false)
     AND coalesce(json_type(uid_j), 'NULL') IN ('NULL', 'VARCHAR'), false) AS fast_ok,
    sw_str(rid_j) AS request_id,
    CAST(sw_str(ts_j) AS TIMESTAMPTZ) AS ts,
    CAST(CAST(sw_str(ts_j) AS TIMESTAMPTZ) AS DATE) AS day,
    sw_str(acct_j) AS account_id,
    sw_str(key_j) AS api_key_id,
    sw_str(ip_j) AS client_ip,
    sw_str(fwd_j) AS forwarded_for,
    sw_str(ja4_j) AS tls_ja4,
    sw_str(hv[1]) AS http_method,
    sw_str(hv[2]) AS http_path,
    CASE WHEN is_openai THEN 'openai' ELSE 'anthropic' END AS api_format,
    sw_h(hlow, 'user-agent') AS user_agent,
    sw_h(hlow, 'anthropic-beta') AS anthropic_beta,
    sw_h(hlow, 'anthropic-version') AS anthropic_version,
    CASE WHEN coalesce(sw_h(hlow, 'x-stainless-lang'), '') <> ''
              OR coalesce(sw_h(hlow, 'x-stainless-package-version'), '') <> ''
              OR coalesce(sw_h(hlow, 'x-stainless-os'), '') <> ''
              OR coalesce(sw_h(hlow, 'x-stainless-arch'), '') <> ''
              OR coalesce(sw_h(hlow, 'x-stainless-runtime'), '') <> ''
              OR coalesce(sw_h(hlow, 'x-stainless-runtime-version'), '') <> ''
         THEN concat_ws('|', coalesce(sw_h(hlow, 'x-stainless-lang'), ''),
                        coalesce(sw_h(hlow, 'x-stainless-package-version'), ''),
                        coalesce(sw_h(hlow, 'x-stainless-os'), ''),
                        coalesce(sw_h(hlow, 'x-stainless-arch'), ''),
                        coalesce(sw_h(hlow, 'x-stainless-runtime'), ''),
                        coalesce(sw_h(hlow, 'x-stainless-runtime-version'), '')) END AS stainless,
    CASE WHEN horder IS NOT NULL AND NOT coalesce(list_bool_or(list_transform(horder, n -> n IS NULL)), false)
         THEN list_transform(horder, n -> lower(n))
         ELSE list_sort(list_transform(hlow, e -> e.k)) END AS header_names,
    sw_str(bv[1]) AS model,
    nullif(system_joined, '') AS system_text,
    user_texts,
    CAST(len(list_filter(dmsgs, m -> coalesce(m.role, '') NOT IN ('system', 'developer'))) AS INTEGER)
        AS message_count,
    CAST(len(list_filter(dmsgs, m -> m.role = 'user')) AS INTEGER) AS user_turns,
    CAST(len(list_filter(dmsgs, m -> m.role = 'assistant')) AS INTEGER) AS assistant_turns,
    list_filter(list_transform(sw_arr(bv[4]), t ->
        CASE WHEN json_type(t) <> 'OBJECT' THEN NULL
             WHEN json_type(t, '$.name') = 'VARCHAR' THEN json_extract_string(t, '$.name')
             WHEN coalesce(json_type(t, '$.name'), 'NULL') = 'NULL'
                  AND json_type(t, '$.function.name') = 'VARCHAR'
                  AND json_type(t, '$.function') = 'OBJECT'
             THEN json_extract_string(t, '$.function.name') END), x -> x IS NOT NULL) AS tool_names,
    coalesce(sw_int(bv[5]), sw_int(bv[6])) AS max_tokens,
    sw_float(bv[7]) AS temperature,
    sw_float(bv[8]) AS top_p,
    CASE WHEN json_type(bv[9]) = 'BOOLEAN' THEN CAST(bv[9] AS BOOLEAN) END AS stream,
    CASE WHEN coalesce(CASE WHEN json_type(bv[10]) = 'OBJECT' THEN sw_str(json_extract(bv[10], '$.type')) END, '') <> ''
         THEN sw_str(json_extract(bv[10], '$.type'))
         ELSE sw_str(bv[13]) END AS thinking_type,
    CASE WHEN json_type(bv[10]) = 'OBJECT' THEN sw_int(json_extract(bv[10], '$.budget_tokens')) END AS thinking_budget,
    sw_str(uid_j) AS metadata_user_id,
    CAST(sw_int(rv[1]) AS INTEGER) AS response_status,
    sw_float(rv[2]) AS latency_ms,
    CASE WHEN json_type(rv[3]) = 'OBJECT' THEN sw_int(json_extract(rv[3], '$.input_tokens')) END AS input_tokens,
    CASE WHEN json_type(rv[3]) = 'OBJECT' THEN sw_int(json_extract(rv[3], '$.output_tokens')) END AS output_tokens,
    sw_str(rv[4]) AS stop_reason,
    sw_str(rv[6]) AS error_type,
    sw_str(rv[5]) AS response_text
FROM mapped
"""
