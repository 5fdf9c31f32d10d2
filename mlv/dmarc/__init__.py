"""DMARC aggregate and failure reports, SMTP TLS reports (TLS-RPT), GeoIP, IMAP auto-import.

Layers, outermost first: ``extract`` (sniff, bounded decompression: ``limits``; e-mails: ``mail``)
→ ``aggregate`` + ``records`` / ``tlsrpt`` / ``failure`` (pure parsers, ``xmlrepair``) → ``store`` +
``bulk`` (SQL) → ``service`` (one call used by the upload route, the CLI and the IMAP sync).
Around them: ``geoip`` + ``geoip_update`` and ``enrich`` (source IPs), ``imap`` + ``sync`` (auto-import),
``smtp`` (notices and the SMTP test), ``jobs`` (what the scheduler runs).

Glossary (one rule per contested term):
- *failure report*: the RFC 7489 "ruf" report (ARF, RFC 6591); never "forensic report".
- *aggregate report*: the "rua" XML report (RFC 7489 appendix C, RFC 9990).
- *DMARC pass*: aligned SPF pass or aligned DKIM pass (RFC 7489 §6.6.2), i.e. ``policy_evaluated``
  says ``pass`` for dkim or for spf. The ``dmarc_pass_pct`` of every route counts exactly that.
- *repair*: something wrong with a report that was fixed while parsing; every repair is recorded
  in the report's ``repairs`` list.
"""
