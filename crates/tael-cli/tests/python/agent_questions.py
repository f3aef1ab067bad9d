"""Answers five questions about the seeded incident through tael's MCP
server with the official Python `mcp` client, as an agent would: the
fewest calls the tool descriptions lead to, each answer read from the
previous one. For each question it reports the calls, the bytes of the
tool results the model reads (their text content) and the answer found.

argv: MCP_URL (http://127.0.0.1:PORT/mcp)
Prints one JSON object; the Rust e2e test checks the answers.
"""
import json
import sys

import anyio
from mcp import Client


class Agent:
    def __init__(self, client):
        self.c = client
        self.calls = 0
        self.bytes = 0

    async def call(self, name, args):
        res = await self.c.call_tool(name, args)
        if res.is_error:
            raise RuntimeError(f"{name} {args}: {res.structured_content}")
        self.calls += 1
        self.bytes += sum(len(b.text.encode()) for b in res.content if getattr(b, "text", None) is not None)
        return res.structured_content


async def question(c, ask):
    a = Agent(c)
    answer = await ask(a)
    return {"calls": a.calls, "bytes": a.bytes, "answer": answer}


async def slower_service(a):
    v = await a.call("find_anomalies", {"last": "15m"})
    return next(x["service"] for x in v["anomalies"] if x["kind"] == "latency_p95")


async def an_error_trace(a):
    v = await a.call("search_traces", {"status": "error", "last": "1h", "limit": 1})
    return v["traces"][0]["trace_id"]


async def root_cause(a):
    v = await a.call("get_trace_errors", {"trace_id": await an_error_trace(a)})
    return [f'{e["service"]} {e["name"]}' for e in v["errors"] if e["root_cause"]]


async def cost_by_model(a):
    v = await a.call("llm_usage", {"last": "24h", "by": "model"})
    return {g["key"]: g["cost_usd"] for g in v["groups"]}


async def failing_request_logs(a):
    v = await a.call("search_logs", {"trace_id": await an_error_trace(a)})
    return [r["body"] for r in v["logs"]]


async def erroring_dependency(a):
    v = await a.call("service_graph", {"last": "1h"})
    e = max(v["edges"], key=lambda e: e["error_rate"])
    return [e["from"], e["to"]]


async def run(url):
    out = {}
    async with Client(url) as c:
        for name, ask in [
            ("slower_service", slower_service),
            ("root_cause", root_cause),
            ("cost_by_model", cost_by_model),
            ("failing_request_logs", failing_request_logs),
            ("erroring_dependency", erroring_dependency),
        ]:
            out[name] = await question(c, ask)
    return out


print(json.dumps(anyio.run(run, sys.argv[1])))
