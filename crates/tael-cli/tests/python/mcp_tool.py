"""Calls one tool of tael's MCP server with the official Python `mcp` client.

argv: TARGET TOOL [ARGS_JSON]
  TARGET: http://127.0.0.1:PORT/mcp, or stdio:TAEL_BIN:REST_URL
Prints {"is_error": …, "result": <the structured result>}.
"""
import json
import sys

import anyio
from mcp import Client, StdioServerParameters


async def run(target, tool, args):
    async with Client(target) as c:
        res = await c.call_tool(tool, args)
        return {"is_error": res.is_error, "result": res.structured_content}


def main():
    target, tool = sys.argv[1], sys.argv[2]
    args = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
    if target.startswith("stdio:"):
        _, binary, rest = target.split(":", 2)
        target = StdioServerParameters(command=binary, args=["mcp"], env={"TAEL_SERVER": rest})
    print(json.dumps(anyio.run(run, target, tool, args)))


main()
