"""Password hashing and session tokens with what the gateway already has (stdlib + cryptography).
Run with the gateway's venv: /work/main/.venv/bin/python auth_probe.py"""

import base64
import hashlib
import hmac
import importlib.util
import os
import secrets
import time

import cryptography

print("cryptography", cryptography.__version__)
for module in ("itsdangerous", "jinja2", "multipart", "python_multipart", "argon2", "bcrypt", "markupsafe"):
    print(f"  {module}: {'present' if importlib.util.find_spec(module) else 'absent'} in this venv")

password = "mật-khẩu đủ dài 2026".encode()
salt = os.urandom(16)


def timed(label, fn, repeat=3):
    best = min((lambda t: (fn(), time.perf_counter() - t)[1])(time.perf_counter()) for _ in range(repeat))
    print(f"  {label}: {best * 1000:.0f} ms")


print("hashlib.scrypt")
try:
    hashlib.scrypt(password, salt=salt, n=2**17, r=8, p=1, dklen=32)
except ValueError as error:
    print("  n=2**17 r=8 with the default maxmem (32 MiB):", error)
timed("n=2**14 r=8 p=1 (16 MiB)", lambda: hashlib.scrypt(password, salt=salt, n=2**14, r=8, p=1, dklen=32))
timed("n=2**17 r=8 p=1 (128 MiB, maxmem=256 MiB)",
      lambda: hashlib.scrypt(password, salt=salt, n=2**17, r=8, p=1, dklen=32, maxmem=256 * 2**20))

try:
    from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
    print("cryptography Argon2id: available")

    def argon(memory_kib, iterations):
        return Argon2id(salt=salt, length=32, iterations=iterations, lanes=1, memory_cost=memory_kib).derive(password)

    timed("Argon2id m=19 MiB t=2 p=1 (OWASP minimum)", lambda: argon(19 * 1024, 2))
    timed("Argon2id m=64 MiB t=3 p=1", lambda: argon(64 * 1024, 3))
    kdf = Argon2id(salt=salt, length=32, iterations=2, lanes=1, memory_cost=19 * 1024)
    key = kdf.derive(password)
    Argon2id(salt=salt, length=32, iterations=2, lanes=1, memory_cost=19 * 1024).verify(password, key)
    print("  verify ok; derive_phc_encoded:", hasattr(Argon2id, "derive_phc_encoded"))
    if hasattr(Argon2id, "derive_phc_encoded"):
        encoded = Argon2id(salt=salt, length=32, iterations=2, lanes=1, memory_cost=19 * 1024).derive_phc_encoded(password)
        print("  PHC string:", encoded[:60], "...")
        Argon2id.verify_phc_encoded(password, encoded)
        print("  verify_phc_encoded ok")
except ImportError as error:
    print("cryptography Argon2id: not available:", error)

# A signed session token with the stdlib: user|role|expiry|nonce, HMAC-SHA256 over it.
KEY = secrets.token_bytes(32)


def issue(user: str, role: str, ttl_s: int = 8 * 3600) -> str:
    body = f"{user}|{role}|{int(time.time()) + ttl_s}|{secrets.token_hex(8)}".encode()
    mac = hmac.new(KEY, body, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(body).decode().rstrip("=") + "." + base64.urlsafe_b64encode(mac).decode().rstrip("=")


def read(token: str):
    body64, _, mac64 = token.partition(".")
    body = base64.urlsafe_b64decode(body64 + "=" * (-len(body64) % 4))
    mac = base64.urlsafe_b64decode(mac64 + "=" * (-len(mac64) % 4))
    if not hmac.compare_digest(mac, hmac.new(KEY, body, hashlib.sha256).digest()):
        return None
    user, role, expiry, _ = body.decode().split("|")
    return (user, role) if int(expiry) > time.time() else None


token = issue("nguyen.van.a", "operator")
print("session token", len(token), "chars:", read(token))
tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
print("tampered token:", read(tampered))
