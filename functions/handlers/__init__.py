"""One handler per entry point: request in, response (or ack/retry) out, services injected."""
