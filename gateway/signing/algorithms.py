"""Algorithm policy of Circular 15/2025/TT-BKHCN: RSA ≥ 2048, ECDSA ≥ 256, SHA-2/SHA-3.

pyHanko's default policy refuses MD5/SHA-1 and small RSA keys but has no elliptic-curve size
check; this one adds it and takes its limits from `signing.algorithms`. A refusal surfaces as
CRYPTO_CONSTRAINTS_FAILURE.
"""

from pyhanko_certvalidator.policy_decl import AlgorithmUsageConstraint, DisallowWeakAlgorithmsPolicy

from gateway.signing.settings import AlgorithmRules


class CircularAlgorithmPolicy(DisallowWeakAlgorithmsPolicy):
    def __init__(self, rules: AlgorithmRules) -> None:
        super().__init__(weak_hash_algos=frozenset({"md2", "md5", "sha1"}) - set(rules.digests),
                         rsa_key_size_threshold=rules.rsa_min_bits)
        self.rules = rules

    def digest_algorithm_allowed(self, algo, moment) -> AlgorithmUsageConstraint:
        name = algo["algorithm"].native
        if name in self.rules.digests:
            return AlgorithmUsageConstraint(True)
        return AlgorithmUsageConstraint(False, failure_reason=f"digest algorithm {name} is not allowed")

    def signature_algorithm_allowed(self, algo, moment, public_key) -> AlgorithmUsageConstraint:
        verdict = super().signature_algorithm_allowed(algo, moment, public_key)
        if verdict and public_key is not None:
            problem = key_size_problem(public_key.algorithm, public_key.bit_size, self.rules)
            if problem:
                return AlgorithmUsageConstraint(False, failure_reason=problem)
        return verdict


def key_size_problem(algorithm: str, bits: int, rules: AlgorithmRules) -> str | None:
    """Why a key is too small for the policy, or None."""
    if algorithm == "rsa" and bits < rules.rsa_min_bits:
        return f"RSA key of {bits} bits is below the {rules.rsa_min_bits} the policy requires"
    if algorithm == "ec" and bits < rules.ec_min_bits:
        return f"EC key of {bits} bits is below the {rules.ec_min_bits} the policy requires"
    return None
