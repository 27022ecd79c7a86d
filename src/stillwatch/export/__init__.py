"""Exports for people and other tools: STIX 2.1 bundles and malicious-use reports (HTML, PDF)."""
