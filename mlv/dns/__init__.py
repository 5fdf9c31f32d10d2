"""Domain DNS checks: SPF, DKIM, DMARC, MX, reverse DNS, MTA-STS, TLS-RPT and BIMI (see check.py)."""
