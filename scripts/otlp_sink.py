"""A loopback OTLP receiver of traces, metrics and logs for the tests, with the official types.

    target/otel-venv/bin/python scripts/otlp_sink.py --http-port P [--grpc-port Q] --out FILE
        [--tls-cert PEM --tls-key KEY [--client-ca PEM]]

(scripts/install-backends.sh makes the venv.) On 127.0.0.1 only: HTTP `POST /v1/traces`,
`/v1/metrics` or `/v1/logs` with an ExportTraceServiceRequest, ExportMetricsServiceRequest or
ExportLogsServiceRequest as `application/x-protobuf` (gzip or deflate allowed) gets 200 and the
matching Export*ServiceResponse, an undecodable body 400, another path 404, another content type
415; with --grpc-port, gRPC TraceService/Export, MetricsService/Export and LogsService/Export (an
undecodable message INVALID_ARGUMENT). Each span received is appended to FILE as one JSON line,
each metric data point to FILE.metrics, each log record to FILE.logs, flushed after each request.

A FILE.metrics line: {"transport", "resource" (attributes), "scope", "scope_version", "name",
"description", "unit", "type": "sum" | "gauge" | "histogram" | "exponential_histogram" |
"summary", "monotonic" (sums; else null), "temporality" (aggregation_temporality of sums and
histograms; else null), "attributes", "start_time_unix_nano", "time_unix_nano", "value" (as_int
or as_double; null if unset or not a number point), "value_type": "int" | "double" | null,
"count", "sum", "bounds" (explicit_bounds), "bucket_counts", "min", "max" (histograms only, else
null; sum, min and max null when unset; bounds and bucket_counts null for exponential
histograms), "exemplars": [{"trace_id", "span_id" (hex), "value", "time_unix_nano",
"filtered_attributes"}], "flags"}.
A FILE.logs line: {"transport", "resource", "scope", "scope_version", "time_unix_nano",
"observed_time_unix_nano", "severity_number", "severity_text", "body" (the AnyValue; null if
unset), "attributes", "dropped_attributes_count", "flags", "trace_id", "span_id" (hex, "" if
empty), "event_name" (when this opentelemetry-proto has it)}.

With --tls-cert and --tls-key both listeners serve TLS only; with --client-ca too, both require a
client certificate that CA signed. FILE.events gets a JSON line per request, `{"event": "request",
"transport": "http" | "grpc", "signal": "traces" | "metrics" | "logs" (null for an HTTP path that
is none of them), "encoding": the Content-Encoding, or the compression a gRPC message came in
("gzip", "deflate"), "" if none, "user_agent", "status": the HTTP status or gRPC code}`, and one
`{"event": "tls_handshake_failed"}` per HTTP connection whose TLS handshake failed (the client did
not trust us, sent no client certificate or one of another CA; gRPC's are not counted).

Environment (every signal alike):
  OTLP_SINK_FAIL_FIRST=N    fail the first N requests of either transport (HTTP 503, gRPC UNAVAILABLE)
  OTLP_SINK_FAIL_STATUS=S   the HTTP status of those failures (default 503; 429 for instance)
  OTLP_SINK_RETRY_AFTER=S   those failures carry `Retry-After: S` (HTTP), or a grpc-status-details-bin
                            trailer: google.rpc.Status{14, details=[RetryInfo{retry_delay=S s}]} (gRPC)
  OTLP_SINK_REJECT=N        accepted requests answer partial_success{rejected_spans (or
                            rejected_data_points, rejected_log_records)=N,
                            error_message="OTLP_SINK_REJECT"}; what they carry is still written

Prints `ready` once it accepts; exits 0 on SIGTERM or SIGINT.
"""
import argparse
import gzip
import json
import os
import signal
import socket
import ssl
import threading
import zlib
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
from google.protobuf.unknown_fields import UnknownFieldSet
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as logs_pb
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as metrics_pb
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as pb
from opentelemetry.proto.logs.v1 import logs_pb2

# LogRecord.event_name is a recent field; older generated types lack it.
HAS_EVENT_NAME = "event_name" in logs_pb2.LogRecord.DESCRIPTOR.fields_by_name

lock = threading.Lock()
out = None  # the --out file (spans), opened in main
metrics_out = None  # FILE.metrics, opened in main
logs_out = None  # FILE.logs, opened in main
events = None  # FILE.events, opened in main
fail_left = int(os.environ.get("OTLP_SINK_FAIL_FIRST", "0"))
fail_status = int(os.environ.get("OTLP_SINK_FAIL_STATUS", "503"))
retry_after = os.environ.get("OTLP_SINK_RETRY_AFTER")
retry_after = None if retry_after in (None, "") else int(retry_after)
reject = int(os.environ.get("OTLP_SINK_REJECT", "0"))


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


def event(**fields):
    """Appends one line to FILE.events."""
    with lock:
        events.write(json.dumps(fields) + "\n")
        events.flush()


def response(signal):
    """The Export*ServiceResponse of an accepted request of `signal` (partial success with
    OTLP_SINK_REJECT)."""
    answer = SIGNALS[signal].response()
    if reject:
        setattr(answer.partial_success, SIGNALS[signal].rejected, reject)
        answer.partial_success.error_message = "OTLP_SINK_REJECT"
    return answer


def varint(n):
    out = bytearray()
    n &= (1 << 64) - 1  # negative int64/int32 as ten bytes, as protobuf does
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field_varint(number, n):
    return varint(number << 3) + varint(n)


def field_bytes(number, data):
    return varint(number << 3 | 2) + varint(len(data)) + data


def retry_status(code, message, seconds):
    """google.rpc.Status{code, message, details=[Any(google.rpc.RetryInfo{retry_delay=seconds})]},
    encoded by hand (no googleapis-common-protos in the venv)."""
    duration = field_varint(1, seconds)  # google.protobuf.Duration.seconds
    retry_info = field_bytes(1, duration)  # RetryInfo.retry_delay
    any_ = field_bytes(1, b"type.googleapis.com/google.rpc.RetryInfo") + field_bytes(2, retry_info)
    return field_varint(1, code) + field_bytes(2, message.encode()) + field_bytes(3, any_)


def decode(signal, body, encoding):
    """The Export*ServiceRequest of `signal` in `body` (`encoding` gzip, deflate or ""); raises if
    it is none."""
    if encoding == "gzip":
        body = gzip.decompress(body)
    elif encoding == "deflate":
        body = zlib.decompress(body)
    request = SIGNALS[signal].request.FromString(body)
    # Garbage may parse as unknown fields; the request itself has only field 1.
    if len(UnknownFieldSet(request)):
        raise ValueError("unknown fields")
    return request


def write_traces(request, transport):
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
                        "scope_version": scope_spans.scope.version,
                        "links": [{"trace_id": l.trace_id.hex(), "span_id": l.span_id.hex(),
                                   "trace_state": l.trace_state, "flags": l.flags,
                                   "attributes": attributes(l.attributes)} for l in s.links],
                        "dropped_attributes_count": s.dropped_attributes_count,
                        "dropped_events_count": s.dropped_events_count,
                        "dropped_links_count": s.dropped_links_count,
                    }) + "\n")
        out.flush()


def optional(message, field):
    """An optional field's value, None when unset."""
    return getattr(message, field) if message.HasField(field) else None


def exemplars(point):
    return [{"trace_id": e.trace_id.hex(), "span_id": e.span_id.hex(),
             "value": None if e.WhichOneof("value") is None else getattr(e, e.WhichOneof("value")),
             "time_unix_nano": e.time_unix_nano,
             "filtered_attributes": attributes(e.filtered_attributes)} for e in point.exemplars]


def write_metrics(request, transport):
    with lock:
        for resource_metrics in request.resource_metrics:
            resource = attributes(resource_metrics.resource.attributes)
            for scope_metrics in resource_metrics.scope_metrics:
                for m in scope_metrics.metrics:
                    kind = m.WhichOneof("data")
                    if kind is None:
                        continue
                    data = getattr(m, kind)
                    for p in data.data_points:
                        number = kind in ("sum", "gauge")
                        histogram = kind in ("histogram", "exponential_histogram")
                        value_kind = p.WhichOneof("value") if number else None
                        metrics_out.write(json.dumps({
                            "transport": transport, "resource": resource,
                            "scope": scope_metrics.scope.name,
                            "scope_version": scope_metrics.scope.version,
                            "name": m.name, "description": m.description, "unit": m.unit,
                            "type": kind,
                            "monotonic": data.is_monotonic if kind == "sum" else None,
                            "temporality": data.aggregation_temporality
                            if kind in ("sum", "histogram", "exponential_histogram") else None,
                            "attributes": attributes(p.attributes),
                            "start_time_unix_nano": p.start_time_unix_nano,
                            "time_unix_nano": p.time_unix_nano,
                            "value": None if value_kind is None else getattr(p, value_kind),
                            "value_type": {"as_int": "int", "as_double": "double"}.get(value_kind),
                            "count": p.count if histogram else None,
                            "sum": optional(p, "sum") if histogram else None,
                            "bounds": list(p.explicit_bounds) if kind == "histogram" else None,
                            "bucket_counts": list(p.bucket_counts) if kind == "histogram" else None,
                            "min": optional(p, "min") if histogram else None,
                            "max": optional(p, "max") if histogram else None,
                            "exemplars": exemplars(p) if kind != "summary" else [],
                            "flags": p.flags,
                        }) + "\n")
        metrics_out.flush()


def write_logs(request, transport):
    with lock:
        for resource_logs in request.resource_logs:
            resource = attributes(resource_logs.resource.attributes)
            for scope_logs in resource_logs.scope_logs:
                for r in scope_logs.log_records:
                    line = {
                        "transport": transport, "resource": resource,
                        "scope": scope_logs.scope.name, "scope_version": scope_logs.scope.version,
                        "time_unix_nano": r.time_unix_nano,
                        "observed_time_unix_nano": r.observed_time_unix_nano,
                        "severity_number": r.severity_number, "severity_text": r.severity_text,
                        "body": value(r.body) if r.HasField("body") else None,
                        "attributes": attributes(r.attributes),
                        "dropped_attributes_count": r.dropped_attributes_count, "flags": r.flags,
                        "trace_id": r.trace_id.hex(), "span_id": r.span_id.hex(),
                    }
                    if HAS_EVENT_NAME:
                        line["event_name"] = r.event_name
                    logs_out.write(json.dumps(line) + "\n")
        logs_out.flush()


class Signal:
    """What differs between traces, metrics and logs."""

    def __init__(self, request, response, rejected, write, service):
        self.request, self.response, self.rejected = request, response, rejected
        self.write, self.service = write, service


SIGNALS = {
    "traces": Signal(pb.ExportTraceServiceRequest, pb.ExportTraceServiceResponse, "rejected_spans",
                     write_traces, "opentelemetry.proto.collector.trace.v1.TraceService"),
    "metrics": Signal(metrics_pb.ExportMetricsServiceRequest, metrics_pb.ExportMetricsServiceResponse,
                      "rejected_data_points", write_metrics,
                      "opentelemetry.proto.collector.metrics.v1.MetricsService"),
    "logs": Signal(logs_pb.ExportLogsServiceRequest, logs_pb.ExportLogsServiceResponse,
                   "rejected_log_records", write_logs,
                   "opentelemetry.proto.collector.logs.v1.LogsService"),
}
PATHS = {"/v1/traces": "traces", "/v1/metrics": "metrics", "/v1/logs": "logs"}


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.signal = PATHS.get(self.path)
        if self.signal is None:
            return self.reply(404)
        if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/x-protobuf":
            return self.reply(415)
        if should_fail():
            headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
            return self.reply(fail_status, headers=headers)
        try:
            request = decode(self.signal, body, self.headers.get("Content-Encoding", "").lower())
        except Exception:  # bad gzip or protobuf
            return self.reply(400)
        SIGNALS[self.signal].write(request, "http")
        self.reply(200, response(self.signal).SerializeToString())

    def reply(self, code, body=b"", headers={}):
        event(event="request", transport="http", signal=getattr(self, "signal", None),
              encoding=self.headers.get("Content-Encoding", ""),
              user_agent=self.headers.get("User-Agent", ""), status=code)
        self.send_response(code)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(body)))
        for name, text in headers.items():
            self.send_header(name, text)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class TlsHTTPServer(ThreadingHTTPServer):
    """HTTPS whose handshakes happen in each connection's thread: one that fails is counted in
    FILE.events and closes that connection only."""

    def __init__(self, address, handler, context):
        super().__init__(address, handler)
        self.context = context

    def get_request(self):
        sock, address = self.socket.accept()
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def finish_request(self, request, client_address):
        request.settimeout(10)
        try:
            request.do_handshake()
        except (ssl.SSLError, OSError, socket.timeout):
            event(event="tls_handshake_failed")
            return
        request.settimeout(None)
        super().finish_request(request, client_address)


def export(signal, body, context):
    """TraceService/Export, MetricsService/Export or LogsService/Export (`signal` "traces",
    "metrics" or "logs"). The server does not decompress (grpc core keeps grpc-encoding from the
    application), so the encoding is read off the message: gzip or zlib (deflate) magic."""
    if body[:2] == b"\x1f\x8b":
        encoding = "gzip"
    elif len(body) >= 2 and body[0] & 0x0F == 8 and (body[0] << 8 | body[1]) % 31 == 0:
        encoding = "deflate"  # a request's first byte is 0x0a, never a zlib header
    else:
        encoding = ""
    user_agent = dict(context.invocation_metadata()).get("user-agent", "")

    def answer(code, message=""):
        event(event="request", transport="grpc", signal=signal, encoding=encoding,
              user_agent=user_agent, status=code.value[0])
        if code != grpc.StatusCode.OK:
            context.abort(code, message)

    if should_fail():
        if retry_after is not None:
            details = retry_status(14, "OTLP_SINK_FAIL_FIRST", retry_after)
            context.set_trailing_metadata((("grpc-status-details-bin", details),))
        answer(grpc.StatusCode.UNAVAILABLE, "OTLP_SINK_FAIL_FIRST")
    try:
        request = decode(signal, body, encoding)
    except Exception:  # bad compression or protobuf
        answer(grpc.StatusCode.INVALID_ARGUMENT,
               f"not an {SIGNALS[signal].request.DESCRIPTOR.name}")
    SIGNALS[signal].write(request, "grpc")
    answer(grpc.StatusCode.OK)
    return response(signal)


def main():
    global out, metrics_out, logs_out, events
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--grpc-port", type=int)
    parser.add_argument("--out", required=True)
    parser.add_argument("--tls-cert", help="serve TLS only, with this certificate (PEM)")
    parser.add_argument("--tls-key", help="the key of --tls-cert (PEM)")
    parser.add_argument("--client-ca", help="require client certificates this CA (PEM) signed")
    args = parser.parse_args()
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key go together")
    if args.client_ca is not None and args.tls_cert is None:
        parser.error("--client-ca needs --tls-cert and --tls-key")
    out = open(args.out, "a", encoding="utf-8")
    metrics_out = open(args.out + ".metrics", "a", encoding="utf-8")
    logs_out = open(args.out + ".logs", "a", encoding="utf-8")
    events = open(args.out + ".events", "a", encoding="utf-8")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    if args.tls_cert is None:
        http = ThreadingHTTPServer(("127.0.0.1", args.http_port), Handler)
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        if args.client_ca is not None:
            context.load_verify_locations(args.client_ca)
            context.verify_mode = ssl.CERT_REQUIRED
        http = TlsHTTPServer(("127.0.0.1", args.http_port), Handler, context)
    http.daemon_threads = True
    threading.Thread(target=http.serve_forever, daemon=True).start()
    server = None
    if args.grpc_port is not None:
        # Without so_reuseport 0 a second server would share a port that is taken; export()
        # decompresses itself, to see the encoding.
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4),
                             options=[("grpc.so_reuseport", 0), ("grpc.per_message_decompression", 0)])

        def service(name):  # the Export of one signal
            handler = grpc.unary_unary_rpc_method_handler(
                lambda body, context: export(name, body, context),
                response_serializer=SIGNALS[name].response.SerializeToString)
            return grpc.method_handlers_generic_handler(SIGNALS[name].service, {"Export": handler})
        server.add_generic_rpc_handlers(tuple(service(name) for name in SIGNALS))
        address = f"127.0.0.1:{args.grpc_port}"
        if args.tls_cert is None:
            server.add_insecure_port(address)  # raises when the port is taken
        else:
            def read(path):
                with open(path, "rb") as f:
                    return f.read()
            credentials = grpc.ssl_server_credentials(
                [(read(args.tls_key), read(args.tls_cert))],
                root_certificates=None if args.client_ca is None else read(args.client_ca),
                require_client_auth=args.client_ca is not None)
            server.add_secure_port(address, credentials)
        server.start()
    print("ready", flush=True)

    stop.wait()
    http.shutdown()
    http.server_close()
    if server is not None:
        server.stop(grace=1).wait()
    out.close()
    metrics_out.close()
    logs_out.close()
    events.close()


if __name__ == "__main__":
    main()
