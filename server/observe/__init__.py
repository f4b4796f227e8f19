"""What an operator watches: request ids and logs, Prometheus metrics, traces, readiness.

Each concern is a module of its own (requests.py, logs.py, metrics.py, tracing.py,
ready.py); the request path only ever pays a context variable, a counter and a histogram.
"""
