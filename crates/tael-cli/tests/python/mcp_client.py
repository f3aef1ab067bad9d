"""Drives tael's MCP server with the official Python `mcp` client.

argv: TARGET MODE [TRACE_ID]
  TARGET: http://127.0.0.1:PORT/mcp, or stdio:TAEL_BIN:REST_URL
  MODE:   auto (the client's newest protocol) or legacy (2025-11-25)
Prints one JSON object of what it saw; the Rust e2e test checks it.
"""
import json
import sys

import anyio
from mcp import Client, StdioServerParameters


def size(v):
    return len(json.dumps(v, separators=(",", ":"), ensure_ascii=False).encode())


async def call(c, name, args, out):
    res = await c.call_tool(name, args)
    v = res.structured_content
    out["max_answer_bytes"] = max(out.get("max_answer_bytes", 0), size(v))
    return res.is_error, v


async def page_all(c, name, args, key, ident, out):
    """Follows next_cursor to the end; the ids of every row, in order."""
    ids, cursor, calls = [], None, 0
    while True:
        a = dict(args)
        if cursor:
            a["cursor"] = cursor
        err, v = await call(c, name, a, out)
        calls += 1
        if err:
            return {"error": v, "ids": ids, "calls": calls}
        ids.extend(ident(r) for r in v[key])
        cursor = v.get("next_cursor")
        if not cursor or calls > 500:
            return {"ids": ids, "calls": calls, "last": {k: v.get(k) for k in ("returned", "total", "truncated")}}


async def run(target, mode, big_trace):
    out = {"mode": mode}
    async with Client(target, mode=mode) as c:
        out["protocol"] = str(c.protocol_version)
        out["tools"] = sorted(t.name for t in (await c.list_tools()).tools)
        _, out["services"] = await call(c, "list_services", {}, out)
        err, v = await call(c, "get_trace_overview", {"trace_id": "zz"}, out)
        out["bad_trace"] = {"is_error": err, "value": v}
        err, v = await call(c, "search_traces", {"service": "chekout"}, out)
        out["misspelt_service"] = {"is_error": err, "value": v}
        if mode != "auto" or not big_trace:
            return out
        out["traces_pages"] = await page_all(
            c, "search_traces", {"service": "payments", "last": "1d", "limit": 15},
            "traces", lambda r: r["trace_id"], out)
        out["overview_pages"] = await page_all(
            c, "get_trace_overview", {"trace_id": big_trace}, "spans", lambda r: r["span_id"], out)
        out["logs_pages"] = await page_all(
            c, "search_logs", {"service": "api", "last": "1d", "limit": 200}, "logs",
            lambda r: r["body"][:40], out)
        for name, args in [
            ("get_trace_errors", {"trace_id": big_trace}),
            ("get_critical_path", {"trace_id": big_trace}),
            ("summarize", {"last": "1d"}),
            ("find_anomalies", {"last": "15m"}),
            ("diff", {"last": "1h"}),
            ("service_graph", {"last": "1d"}),
            ("llm_usage", {"last": "1d"}),
            ("correlate", {"trace_id": big_trace}),
            ("list_metrics", {}),
            ("sql_schema", {}),
            ("run_sql", {"query": "SELECT service, count(*) AS n FROM spans GROUP BY service ORDER BY service"}),
            ("query_promql", {"query": "vector(1)"}),
            ("add_comment", {"trace_id": big_trace, "body": "root cause: the db span"}),
            ("summarize", {"last": "ten minutes"}),
        ]:
            err, v = await call(c, name, args, out)
            out.setdefault("calls", []).append({"tool": name, "is_error": err, "value": v})
        errs = out["calls"][0]["value"]["errors"]
        err, v = await call(c, "get_span_details", {"trace_id": big_trace, "span_ids": [e["span_id"] for e in errs[:3]]}, out)
        out["details"] = {"is_error": err, "value": v}
    return out


def main():
    target, mode = sys.argv[1], sys.argv[2]
    big = sys.argv[3] if len(sys.argv) > 3 else None
    if target.startswith("stdio:"):
        _, binary, rest = target.split(":", 2)
        target = StdioServerParameters(command=binary, args=["mcp"], env={"TAEL_SERVER": rest})
    print(json.dumps(anyio.run(run, target, mode, big)))


main()
