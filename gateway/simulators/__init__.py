"""Fault-injectable partner simulators speaking the real protocols over real HTTP/SOAP."""
