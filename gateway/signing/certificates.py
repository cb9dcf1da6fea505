"""Certificates as the report shows them."""

from asn1crypto import x509

from gateway.signing.report import CertificateInfo


def describe(cert: x509.Certificate) -> CertificateInfo:
    public_key = cert.public_key
    policies = cert.certificate_policies_value
    return CertificateInfo(
        subject=cert.subject.human_friendly,
        issuer=cert.issuer.human_friendly,
        serial=format(cert.serial_number, "x"),
        not_before=cert.not_valid_before,
        not_after=cert.not_valid_after,
        sha256=cert.sha256.hex(),
        key=f"{public_key.algorithm.upper()} {public_key.bit_size}",
        policy_oids=[policy["policy_identifier"].dotted for policy in policies] if policies else [],
        subject_attributes=name_attributes(cert.subject),
        issuer_attributes=name_attributes(cert.issuer),
    )


def name_attributes(name: x509.Name) -> dict[str, str]:
    """A name's attributes by short name (CN, O, OU, ...); repeated ones joined by ', '."""
    short = {"common_name": "CN", "organization_name": "O", "organizational_unit_name": "OU",
             "locality_name": "L", "state_or_province_name": "ST", "country_name": "C",
             "user_id": "UID", "serial_number": "serialNumber", "email_address": "E"}
    found: dict[str, list[str]] = {}
    for rdn in name.chosen:
        for attribute in rdn:
            name = attribute["type"].native
            found.setdefault(short.get(name, name), []).append(str(attribute["value"].native))
    return {name: ", ".join(values) for name, values in found.items()}


# extended key usages that are a certificate's whole purpose and never a document signer's
SERVICE_ONLY = {"time_stamping", "ocsp_signing"}


def purpose_problem(cert: x509.Certificate) -> str | None:
    """Why the certificate may not sign documents by its extended key usage, or None. A signer
    certificate with no EKU, or with any other purpose listed, is fine (Vietnamese CAs vary)."""
    usages = cert.extended_key_usage_value
    if usages is None:
        return None
    purposes = set(usages.native)
    if purposes and purposes <= SERVICE_ONLY:
        return f"the signer's certificate is for {', '.join(sorted(purposes))} only, not for signing documents"
    return None
