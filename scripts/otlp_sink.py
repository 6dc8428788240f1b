"""A loopback OTLP trace receiver for the tests, decoding with the official generated types.

    target/otel-venv/bin/python scripts/otlp_sink.py --http-port P [--grpc-port Q] --out FILE

(scripts/install-backends.sh makes the venv.) On 127.0.0.1 only: HTTP `POST /v1/traces` with an
ExportTraceServiceRequest as `application/x-protobuf` (gzip allowed) gets 200 and an empty
ExportTraceServiceResponse, an undecodable body 400, another path 404, another content type 415;
with --grpc-port, gRPC TraceService/Export. Each span received is appended to FILE as one JSON line,
flushed after each request. OTLP_SINK_FAIL_FIRST=N fails the first N requests of either transport
(HTTP 503, gRPC UNAVAILABLE). Prints `ready` once it accepts; exits 0 on SIGTERM or SIGINT.
"""
import argparse
import gzip
import json
import os
import signal
import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
from google.protobuf.unknown_fields import UnknownFieldSet
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as pb
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as pb_grpc

lock = threading.Lock()
out = None  # the --out file, opened in main
fail_left = int(os.environ.get("OTLP_SINK_FAIL_FIRST", "0"))


def value(v):
    """An AnyValue as a Python value (bytes as hex)."""
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return attributes(v.kvlist_value.values)
    if kind == "bytes_value":
        return v.bytes_value.hex()
    return None if kind is None else getattr(v, kind)


def attributes(key_values):
    return {kv.key: value(kv.value) for kv in key_values}


def should_fail():
    global fail_left
    with lock:
        fail_left -= 1
        return fail_left >= 0


def write(request, transport):
    with lock:
        for resource_spans in request.resource_spans:
            resource = attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for s in scope_spans.spans:
                    out.write(json.dumps({
                        "transport": transport, "resource": resource,
                        "scope": scope_spans.scope.name, "trace_id": s.trace_id.hex(),
                        "span_id": s.span_id.hex(), "parent_span_id": s.parent_span_id.hex(),
                        "trace_state": s.trace_state, "name": s.name, "kind": s.kind,
                        "start_time_unix_nano": s.start_time_unix_nano,
                        "end_time_unix_nano": s.end_time_unix_nano,
                        "attributes": attributes(s.attributes),
                        "events": [{"name": e.name, "time_unix_nano": e.time_unix_nano,
                                    "attributes": attributes(e.attributes)} for e in s.events],
                        "status": {"code": s.status.code, "message": s.status.message},
                        "flags": s.flags,
                    }) + "\n")
        out.flush()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path != "/v1/traces":
            return self.reply(404)
        if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/x-protobuf":
            return self.reply(415)
        if should_fail():
            return self.reply(503)
        try:
            if self.headers.get("Content-Encoding", "").lower() == "gzip":
                body = gzip.decompress(body)
            request = pb.ExportTraceServiceRequest.FromString(body)
            # Garbage may parse as unknown fields; the request itself has only field 1.
            if len(UnknownFieldSet(request)):
                raise ValueError("unknown fields")
        except Exception:  # bad gzip or protobuf
            return self.reply(400)
        write(request, "http")
        self.reply(200, pb.ExportTraceServiceResponse().SerializeToString())

    def reply(self, code, body=b""):
        self.send_response(code)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class TraceService(pb_grpc.TraceServiceServicer):
    def Export(self, request, context):
        if should_fail():
            context.abort(grpc.StatusCode.UNAVAILABLE, "OTLP_SINK_FAIL_FIRST")
        write(request, "grpc")
        return pb.ExportTraceServiceResponse()


def main():
    global out
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--grpc-port", type=int)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    out = open(args.out, "a", encoding="utf-8")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    http = ThreadingHTTPServer(("127.0.0.1", args.http_port), Handler)
    http.daemon_threads = True
    threading.Thread(target=http.serve_forever, daemon=True).start()
    server = None
    if args.grpc_port is not None:
        # Without so_reuseport 0 a second server would share a port that is taken.
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4),
                             options=[("grpc.so_reuseport", 0)])
        pb_grpc.add_TraceServiceServicer_to_server(TraceService(), server)
        server.add_insecure_port(f"127.0.0.1:{args.grpc_port}")  # raises when the port is taken
        server.start()
    print("ready", flush=True)

    stop.wait()
    http.shutdown()
    http.server_close()
    if server is not None:
        server.stop(grace=1).wait()
    out.close()


if __name__ == "__main__":
    main()
