"""An instrumented OpenAI client for tael's end-to-end tests.

Usage: python3 llm_client.py <otlp-http-base-url> <openai-v2|openinference>

Starts a small local stub of the OpenAI chat-completions API, instruments
the official `openai` client with the chosen OpenTelemetry instrumentation
(capturing message content), makes one chat call with a system and a user
message, exports spans and logs to tael over OTLP/HTTP protobuf, and prints
one JSON line: {"trace_id": …, "prompt": …, "completion": …, "system": …}.
"""

import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

PROMPT = "What is the refund policy for damaged parcels?"
# Long enough (> 1 KiB) that tael moves it to its blob store.
SYSTEM = "You are a concise support agent. " + " ".join(
    f"Rule {i}: quote the refund policy section that applies." for i in range(40)
)
COMPLETION = "Damaged parcels are refunded in full within 14 days."
USAGE = {"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500}


class StubOpenAI(BaseHTTPRequestHandler):
    """Answers POST /v1/chat/completions like the OpenAI API."""

    def do_POST(self):  # noqa: N802 (http.server naming)
        length = int(self.headers.get("content-length", "0"))
        request = json.loads(self.rfile.read(length) or b"{}")
        body = {
            "id": "chatcmpl-tael-e2e",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": request.get("model", "gpt-4o-mini") + "-2024-07-18",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": COMPLETION},
                    "finish_reason": "stop",
                }
            ],
            "usage": USAGE,
        }
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def main():
    endpoint, flavour = sys.argv[1].rstrip("/"), sys.argv[2]
    os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "true"

    from opentelemetry import trace, _logs
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

    resource = Resource.create({"service.name": f"llm-e2e-{flavour}"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces"))
    )
    trace.set_tracer_provider(tracer_provider)
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{endpoint}/v1/logs"))
    )
    _logs.set_logger_provider(logger_provider)

    if flavour == "openai-v2":
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

        OpenAIInstrumentor().instrument()
    elif flavour == "openinference":
        from openinference.instrumentation.openai import OpenAIInstrumentor

        OpenAIInstrumentor().instrument(tracer_provider=tracer_provider)
    else:
        sys.exit(f"unknown instrumentation {flavour!r}")

    stub = HTTPServer(("127.0.0.1", 0), StubOpenAI)
    threading.Thread(target=stub.serve_forever, daemon=True).start()

    import openai

    client = openai.OpenAI(
        base_url=f"http://127.0.0.1:{stub.server_port}/v1", api_key="test-key"
    )
    tracer = trace.get_tracer("tael-e2e")
    with tracer.start_as_current_span("handle support question") as root:
        trace_id = format(root.get_span_context().trace_id, "032x")
        reply = client.chat.completions.create(
            model="gpt-4o-mini",
            temperature=0.3,
            messages=[
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": PROMPT},
            ],
        )
    assert reply.choices[0].message.content == COMPLETION
    tracer_provider.force_flush()
    logger_provider.force_flush()
    tracer_provider.shutdown()
    logger_provider.shutdown()
    stub.shutdown()
    print(json.dumps({"trace_id": trace_id, "prompt": PROMPT, "completion": COMPLETION, "system": SYSTEM}))


if __name__ == "__main__":
    main()
