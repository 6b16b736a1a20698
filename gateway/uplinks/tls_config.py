"""TLS settings of an uplink (MQTT or SAPIENT): the ``[uplinks.tls]`` table."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway.config_types import ConfigPath


def _tls_shorthand(value: object) -> object:
    # `tls = false` / `tls = true` are easier to write than a table with one key.
    if isinstance(value, bool):
        return {"enabled": value}
    return value


class TlsConfig(BaseModel):
    """TLS for one uplink; files are read again at every connection attempt."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    enabled: bool = Field(default=True, description="TLS on (default); false = plain MQTT")
    ca_file: ConfigPath | None = Field(
        default=None, description="CA that signed the broker's certificate; default: system CAs"
    )
    cert_file: ConfigPath | None = Field(default=None, description="client certificate (mTLS)")
    key_file: ConfigPath | None = Field(default=None, description="client key (mTLS)")
    verify: bool = Field(
        default=True,
        description="verify the broker's certificate chain and host name; off only for tests",
    )

    @model_validator(mode="after")
    def _check(self) -> TlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            missing = "key_file" if self.key_file is None else "cert_file"
            other = "cert_file" if missing == "key_file" else "key_file"
            raise ValueError(f"{missing}: required when {other} is given (mTLS needs both)")
        if not self.enabled:
            given = [
                n for n in ("ca_file", "cert_file", "key_file") if getattr(self, n) is not None
            ]
            if given:
                raise ValueError(f"{given[0]}: given, but TLS is disabled (enabled = false)")
        return self
