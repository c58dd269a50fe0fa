"""TLS for one hook's endpoint: the SSLContexts its requests use, the checks `hookd validate` makes on
the files they load, and TLS failures told as sentences.

A hook with no `tls:` block (or one that changes nothing) uses aiohttp's default verified context,
shared by all such hooks. Otherwise its contexts are built once per Endpoint in the process that
sends: one for the hook's own host, holding the client certificate, and one for any other host a
redirect leads to, with the same trust and no certificate (the same object when there is no client
certificate).

Messages name files and what is wrong with them, never their contents: a key file's bytes are never
quoted, and OpenSSL is never left to ask for a passphrase on a terminal (a daemon has none).
"""

from __future__ import annotations

import datetime
import ssl
import weakref
from pathlib import Path

import aiohttp
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from hookd.config.model import TlsConfig
from hookd.files import file_kind

# A TLS file larger than this is not a PEM certificate or key (a bundle of every public CA is ~250 KB).
MAX_TLS_FILE_BYTES = 4 * 1024 * 1024


class TlsFileError(Exception):
    """A TLS file that cannot be used; the message is a sentence naming the file, never its contents.
    `field` is the `tls:` key at fault, when the check knows better than the caller; `unfound` says
    the path names no regular file (rather than a file that does not load)."""

    def __init__(self, message: str, field: str = "", *, unfound: bool = False) -> None:
        super().__init__(message)
        self.field = field
        self.unfound = unfound


class _EncryptedKey(Exception):
    pass


def _no_passphrase() -> bytes:
    # Called by OpenSSL only for an encrypted key. Raising stops it from prompting on a terminal.
    raise _EncryptedKey


def contexts(tls: TlsConfig) -> tuple[ssl.SSLContext | bool, ssl.SSLContext | bool]:
    """(for the hook's own host, for any other host): the `ssl=` values of aiohttp requests. Raises
    TlsFileError when a file cannot be loaded."""
    if tls.is_default:
        return True, True
    other = _context(tls)
    if tls.client_cert is None:
        return other, other
    own = _context(tls)
    _load_client_pair(own, tls.client_cert, tls.client_key)
    return own, other


# The CA bundle each context made here trusts instead of the system's, so that a certificate it refuses
# is told against that bundle (describe_tls_failure gets the context back from aiohttp's exception).
_BUNDLES: weakref.WeakKeyDictionary[ssl.SSLContext, Path] = weakref.WeakKeyDictionary()


def _context(tls: TlsConfig) -> ssl.SSLContext:
    try:
        # With a cafile, create_default_context trusts exactly that bundle (no system CAs).
        context = ssl.create_default_context(cafile=str(tls.ca_file) if tls.ca_file is not None else None)
    except (OSError, ValueError) as e:
        assert tls.ca_file is not None  # the system store alone does not fail to load
        raise TlsFileError(f"the CA bundle {str(tls.ca_file)!r} cannot be loaded: {_reason(e)}") from None
    if not tls.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif tls.ca_file is not None:
        _BUNDLES[context] = tls.ca_file
    return context


def _load_client_pair(context: ssl.SSLContext, cert: Path, key: Path | None) -> None:
    try:
        context.load_cert_chain(str(cert), str(key) if key is not None else None, password=_no_passphrase)
    except _EncryptedKey:
        raise TlsFileError(f"the private key {str(key or cert)!r} is encrypted; {_DECRYPT}") from None
    except (OSError, ValueError) as e:
        raise TlsFileError(
            f"the client certificate {str(cert)!r} and its key {str(key or cert)!r} cannot be loaded: {_reason(e)}"
        ) from None


_DECRYPT = (
    "hookd cannot ask for a passphrase: store it decrypted (openssl pkey -in key.pem -out plain.pem) "
    "and protect the file by its permissions"
)


def _reason(e: BaseException) -> str:
    if isinstance(e, ssl.SSLError) and e.reason:
        return str(e.reason).replace("_", " ").lower()
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return type(e).__name__


# -- the checks of `hookd validate` -------------------------------------------------------------


def read_tls_file(path: Path) -> bytes:
    """The bytes of a TLS file, or TlsFileError saying why not (missing, not a regular file). Raises
    PermissionError when this user may not read it (the daemon may run as another user)."""
    try:
        kind = file_kind(path.stat().st_mode)
    except (FileNotFoundError, NotADirectoryError):
        raise TlsFileError(f"{str(path)!r} does not exist", unfound=True) from None
    except PermissionError:
        raise
    except OSError as e:
        raise TlsFileError(f"cannot look at {str(path)!r}: {e.strerror or e}") from None
    if kind != "a regular file":
        raise TlsFileError(f"{str(path)!r} is {kind}, not a regular file", unfound=True)
    try:
        with path.open("rb") as f:
            data = f.read(MAX_TLS_FILE_BYTES + 1)
    except PermissionError:
        raise
    except OSError as e:
        raise TlsFileError(f"cannot read {str(path)!r}: {e.strerror or e}") from None
    if len(data) > MAX_TLS_FILE_BYTES:
        raise TlsFileError(f"{str(path)!r} is over {MAX_TLS_FILE_BYTES // (1024 * 1024)} MB, not a PEM file")
    return data


def check_ca_bundle(path: Path) -> list[str]:
    """Warnings about a CA bundle that loads (an expired CA). Raises TlsFileError if it is not one,
    PermissionError if this user may not read it."""
    data = read_tls_file(path)
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise TlsFileError(
            f"{str(path)!r} holds no PEM certificate; give the CA certificate(s) that signed the receiver's "
            "certificate, in PEM form (-----BEGIN CERTIFICATE-----)"
        ) from None
    try:
        ssl.create_default_context(cafile=str(path))
    except (OSError, ValueError) as e:
        raise TlsFileError(f"the CA bundle {str(path)!r} cannot be loaded: {_reason(e)}") from None
    return [f"the CA certificate {_subject(c)} in {str(path)!r} {why}" for c in certificates if (why := _expired(c))]


def check_client_pair(cert: Path, key: Path | None) -> list[str]:
    """Warnings about a client certificate and its key (in `key`, or in `cert` when None) that load
    and match (an expired certificate). Raises TlsFileError, with the field at fault, if they do not;
    PermissionError if this user may not read one of them."""
    cert_data = read_tls_file(cert)
    try:
        chain = x509.load_pem_x509_certificates(cert_data)
    except ValueError:
        raise TlsFileError(
            f"{str(cert)!r} holds no PEM certificate (-----BEGIN CERTIFICATE-----)", "client_cert"
        ) from None
    key_field, key_path = ("client_key", key) if key is not None else ("client_cert", cert)
    try:
        key_data = read_tls_file(key_path)
    except TlsFileError as e:
        raise TlsFileError(str(e), key_field, unfound=e.unfound) from None
    try:
        private_key = serialization.load_pem_private_key(key_data, password=None)
    except TypeError:  # cryptography's way of saying it needs a password
        raise TlsFileError(f"the private key in {str(key_path)!r} is encrypted; {_DECRYPT}", key_field) from None
    except (ValueError, UnsupportedAlgorithm):
        if key is None:
            raise TlsFileError(
                f"{str(cert)!r} holds no private key; give the key in client_key, or put it in the same file",
                "client_cert",
            ) from None
        raise TlsFileError(
            f"{str(key)!r} holds no PEM private key hookd can read (-----BEGIN PRIVATE KEY-----)", "client_key"
        ) from None
    leaf = chain[0]
    if _public(leaf.public_key()) != _public(private_key.public_key()):
        raise TlsFileError(
            f"the private key in {str(key_path)!r} does not belong to the certificate in {str(cert)!r} (their "
            "public keys differ); give the key the certificate was issued for",
            key_field,
        )
    try:
        _load_client_pair(ssl.create_default_context(), cert, key)
    except TlsFileError as e:
        raise TlsFileError(str(e), key_field) from None
    why = _expired(leaf)
    return [f"the client certificate {_subject(leaf)} in {str(cert)!r} {why}"] if why else []


def _public(key: PublicKeyTypes) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _subject(certificate: x509.Certificate) -> str:
    return repr(certificate.subject.rfc4514_string())


def _expired(certificate: x509.Certificate) -> str:
    now = datetime.datetime.now(datetime.UTC)
    if certificate.not_valid_after_utc < now:
        return f"expired on {certificate.not_valid_after_utc:%Y-%m-%d}; connections that rely on it will fail"
    return ""


# -- failures told as sentences -----------------------------------------------------------------

_NAME_MISMATCH = frozenset({62, 64})  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
# X509_V_ERR_ codes saying no trusted CA vouches for the certificate: UNABLE_TO_GET_ISSUER_CERT,
# DEPTH_ZERO_SELF_SIGNED_CERT, SELF_SIGNED_CERT_IN_CHAIN, UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
# UNABLE_TO_VERIFY_LEAF_SIGNATURE.
_UNTRUSTED = frozenset({2, 18, 19, 20, 21})


def describe_tls_failure(e: aiohttp.ClientSSLError) -> str:
    """What went wrong in a TLS handshake, and what to do about it."""
    if isinstance(e, aiohttp.ClientConnectorCertificateError):
        cause = e.certificate_error
        detail = (getattr(cause, "verify_message", "") or _reason(cause)).rstrip(".")
        code = getattr(cause, "verify_code", None)
        if code in _NAME_MISMATCH:
            return (
                f"the certificate of {e.host}:{e.port} is not for that host ({detail}); use a host name the "
                "certificate names in the hook's url"
            )
        bundle = _bundle_of(e)
        if bundle is None:
            return (
                f"the certificate of {e.host}:{e.port} was refused ({detail}); if the receiver uses a private CA, "
                "give its bundle in tls.ca_file"
            )
        if code in _UNTRUSTED:
            return (
                f"the certificate of {e.host}:{e.port} was refused ({detail}): it does not chain to a CA in "
                f"tls.ca_file {str(bundle)!r}, the only CAs this hook trusts; give the bundle of the CA that "
                "issued the receiver's certificate (ask the receiver which)"
            )
        return f"the certificate of {e.host}:{e.port} was refused ({detail})"
    return f"the TLS handshake with {e.host}:{e.port} failed ({_reason(e.os_error)})"


def _bundle_of(e: aiohttp.ClientConnectorCertificateError) -> Path | None:
    """The tls.ca_file the refusing context trusted, or None (the system's CAs). The exception's first
    argument is aiohttp's connection key, whose `ssl` is the context the connection used (the
    exception's own `ssl` property only says whether TLS was used)."""
    context = getattr(e.args[0], "ssl", None) if e.args else None
    return _BUNDLES.get(context) if isinstance(context, ssl.SSLContext) else None
