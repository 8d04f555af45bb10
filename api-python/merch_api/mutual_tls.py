"""The API's side of mutual TLS with the store's services: it presents its own
certificate (identity `api`) and accepts a server only if the store's authority signed
a certificate naming the service it wanted (`dbsvc`, `logsvc`), whatever address
answered. The Go services check the caller's identity in turn (serving/tls.go)."""

from dataclasses import dataclass
from pathlib import Path

import grpc

DB_SERVICE = "dbsvc"
LOG_SERVICE = "logsvc"


@dataclass(frozen=True)
class MutualTLS:
    credentials: grpc.ChannelCredentials

    @classmethod
    def load(cls, directory: str) -> "MutualTLS":
        """Reads ca.crt, tls.crt and tls.key from directory (TLS_DIR)."""
        folder = Path(directory)
        try:
            root, key, chain = (
                (folder / name).read_bytes() for name in ("ca.crt", "tls.key", "tls.crt")
            )
        except OSError as error:
            raise RuntimeError(
                f"TLS_DIR={directory}: {error.strerror}: {error.filename}; it must hold "
                "ca.crt, tls.crt and tls.key (make up and compose make them)"
            ) from error
        return cls(
            grpc.ssl_channel_credentials(
                root_certificates=root, private_key=key, certificate_chain=chain
            )
        )

    def channel(self, target: str, server: str, options: list) -> grpc.Channel:
        """A channel to target that accepts only the service named server."""
        return grpc.secure_channel(
            target,
            self.credentials,
            options=[*options, ("grpc.ssl_target_name_override", server)],
        )
