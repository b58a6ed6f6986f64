"""The thin I/O runtime every service uses: settings, NATS connection and setup, serving loops, logging."""
