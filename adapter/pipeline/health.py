"""Health endpoint: ``/healthz`` (the process answers), ``/readyz`` (it can work),
``/metrics`` (Prometheus text format).

Plain HTTP on ``health.host:health.port``, served from a daemon thread. ``/readyz``
answers 503 with a JSON reason while the broker is disconnected or submissions
are paused (certificate, TLS or store fault), so orchestrators and the Docker
HEALTHCHECK see what an operator would.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import structlog
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from adapter.logging import named

log = structlog.get_logger(__name__)


Gauges = dict[str, tuple[str, list[tuple[dict[str, str], float]]]]


class _Collector:
    """Reads the daemon's state at scrape time: nothing to keep in sync."""

    def __init__(self, gauges: Callable[[], Gauges]) -> None:
        self._gauges = gauges

    def collect(self):  # type: ignore[no-untyped-def]
        for name, (doc, samples) in self._gauges().items():
            labels = sorted(samples[0][0]) if samples else []
            family = GaugeMetricFamily(name, doc, labels=labels)
            for values, value in samples:
                family.add_metric([values[k] for k in labels], value)
            yield family


class HealthServer:
    """Serves the probes; ``readiness()`` returns (ready, details), ``gauges()`` the metrics."""

    def __init__(self, host: str, port: int,
                 readiness: Callable[[], tuple[bool, dict[str, object]]],
                 gauges: Callable[[], Gauges] = dict) -> None:
        self._readiness = readiness
        self._registry = CollectorRegistry()
        self._registry.register(_Collector(gauges))
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server naming
                if self.path == "/healthz":
                    self._answer(200, {"status": "ok"})
                elif self.path == "/metrics":
                    data = generate_latest(outer._registry)
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain; version=0.0.4")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                elif self.path == "/readyz":
                    ready, details = outer._readiness()
                    self._answer(200 if ready else 503,
                                 {"status": "ready" if ready else "not ready", **details})
                else:
                    self._answer(404, {"status": "not found"})

            def _answer(self, code: int, body: dict[str, object]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args: object) -> None:
                pass  # probes every few seconds would flood the log

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._thread = threading.Thread(target=named(self._server.serve_forever), name="health",
                                        daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()
        log.info("health_endpoint_started", port=self.port)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
