"""Drives jaeger-mcp (a third-party MCP server over Jaeger's v1 HTTP API)
against tael, through the official `mcp` client over stdio.

argv: JAEGER_MCP_BIN TAEL_REST_URL TRACE_ID START_US
Prints a JSON report of what jaeger-mcp read from tael.
"""

import json
import sys

import anyio
from mcp import Client, StdioServerParameters


async def call(c, name, args):
    res = await c.call_tool(name, args)
    if res.is_error:
        raise SystemExit(f"{name} {args} failed: {res.content}")
    v = res.structured_content
    # FastMCP servers of mcp 1.x wrap non-object results as {"result": ...}.
    return v.get("result", v) if isinstance(v, dict) and set(v) == {"result"} else v


async def run(binary, rest, trace_id, start_us):
    params = StdioServerParameters(command=binary, env={"JAEGER_URL": rest})
    out = {}
    async with Client(params) as c:
        tools = {t.name for t in (await c.list_tools()).tools}
        for t in ("jaeger_list_services", "jaeger_list_operations", "jaeger_search_traces", "jaeger_get_trace"):
            assert t in tools, f"{t} not offered: {sorted(tools)}"
        v = await call(c, "jaeger_list_services", {})
        out["services"] = sorted(v["services"])
        v = await call(c, "jaeger_list_operations", {"service": "checkout"})
        out["operations"] = sorted(v["operations"])
        v = await call(c, "jaeger_search_traces", {"service": "checkout", "start": int(start_us), "limit": 20})
        out["search_trace_ids"] = [t["trace_id"] for t in v["traces"]]
        v = await call(c, "jaeger_get_trace", {"trace_id": trace_id})
        out["trace_span_count"] = v["span_count"]
        out["trace_services"] = sorted(s["service"] for s in v["services"])
        out["error_spans"] = v["errors_count"]
    return out


def main():
    binary, rest, trace_id, start_us = sys.argv[1:5]
    print(json.dumps(anyio.run(run, binary, rest, trace_id, start_us)))


main()
