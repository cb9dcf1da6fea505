"""Digital signatures: verify signed submissions (PDF/PAdES, XML-DSig/XAdES, CMS/CAdES) and
electronic certified copies against the configured trust anchors, in ETSI EN 319 102-1 terms.
See docs/signatures.md."""
