"""`[[uplinks]]` config: defaults a technician can rely on, and errors that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import load_config
from gateway.errors import ConfigError
from gateway.uplinks.config import ShareFilter, UplinkConfig

NODE = (
    '[node]\nid = "ugs-0007"\nsite = "sector-12"\n'
    '[[sensors]]\nname = "geo1"\nkind = "seismic"\ntransport = "serial"\n'
    'port = "/dev/ttyUSB0"\nsample_rate = 500\n'
)

GOOD = (
    NODE
    + """
[[uplinks]]
name = "agency-a"
host = "mqtt.agency-a.example"
username = "ugs-0007"
password_file = "secrets/a.pass"
[uplinks.tls]
ca_file = "certs/ca.pem"
cert_file = "certs/node.pem"
key_file = "certs/node.key"
[uplinks.share]
classes = ["vehicle"]
min_conf = 0.5
redact = ["loc"]

[[uplinks]]
name = "lab"
host = "127.0.0.1"
port = 1884
tls = false
encoding = "compact"
"""
)


def load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "gw.toml"
    path.write_text(text)
    return load_config(path)


def problems(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    return "\n".join(info.value.problems)


def test_good_uplinks_and_defaults(tmp_path: Path) -> None:
    config = load(tmp_path, GOOD)
    a, lab = config.uplinks  # type: ignore[attr-defined]
    assert a.tls.enabled and a.tls.verify and a.effective_port == 8883
    # Paths are taken from the config file's directory.
    assert a.password_file == tmp_path / "secrets/a.pass"
    assert a.tls.ca_file == tmp_path / "certs/ca.pem"
    assert a.topic_prefix == "ugs/v1" and a.qos == 1 and a.encoding == "json"
    assert a.resolved_client_id("ugs-0007") == "ugs-0007-agency-a"
    assert not lab.tls.enabled and lab.effective_port == 1884 and lab.encoding == "compact"
    assert load(tmp_path, NODE).uplinks == []  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ('key_file = "certs/node.key"\n', "", "uplinks[0].tls.key_file"),
        ('cert_file = "certs/node.pem"\n', "", "uplinks[0].tls.cert_file"),
        ('username = "ugs-0007"\n', "", "uplinks[0].password_file"),
        ('password_file = "secrets/a.pass"', 'password = "hunter2"', "uplinks[0].password"),
        ('name = "lab"', 'name = "agency-a"', "uplinks.name"),
        ('host = "127.0.0.1"', 'host = "mqtt://127.0.0.1:1883"', "uplinks[1].host"),
        ("port = 1884", "port = 70000", "uplinks[1].port"),
        ('encoding = "compact"', 'encoding = "cbor"', "uplinks[1].encoding"),
        ("tls = false", 'tls = false\ntopic_prefix = "ugs/#"', "uplinks[1].topic_prefix"),
        ("tls = false", 'tls = false\ntopic_prefix = "/ugs/v1"', "uplinks[1].topic_prefix"),
        ("min_conf = 0.5", "min_conf = 1.5", "uplinks[0].share.min_conf"),
        ('redact = ["loc"]', 'redact = ["id"]', "uplinks[0].share.redact"),
        ('classes = ["vehicle"]', 'classes = ["Vehicle!"]', "uplinks[0].share.classes"),
        ("tls = false", "tls = false\nreconnect_min = 90", "uplinks[1].reconnect_min"),
        ("tls = false", "tls = false\nkeepalive = 0", "uplinks[1].keepalive"),
        ("tls = false", "tls = false\nmax_inflght = 5", "uplinks[1].max_inflght"),
        ("tls = false", 'tls = { enabled = false, ca_file = "ca.pem" }', "uplinks[1].tls.ca_file"),
    ],
)
def test_bad_uplink_names_the_field(tmp_path: Path, old: str, new: str, field: str) -> None:
    assert old in GOOD
    text = problems(tmp_path, GOOD.replace(old, new, 1))
    assert field in text, text


def test_share_filter_accepts_and_redacts() -> None:
    share = ShareFilter(classes=["vehicle"], min_conf=0.5, redact=["loc", "features"])
    report = {"id": "n-1-1", "class": "vehicle", "conf": 0.7, "loc": {"lat": 1.0, "lon": 2.0},
              "features": {"peak": 1.0}, "sensors": ["geo1"]}  # fmt: skip
    assert share.accepts(report)
    assert not share.accepts({**report, "class": "footstep"})
    assert not share.accepts({**report, "conf": 0.4})
    assert share.apply(report) == {"id": "n-1-1", "class": "vehicle", "conf": 0.7,
                                   "sensors": ["geo1"]}  # fmt: skip
    assert ShareFilter().accepts({**report, "class": "tracked_vehicle", "conf": 0.0})


def test_uplink_model_alone() -> None:
    cfg = UplinkConfig(name="x", host="::1", tls=False)  # type: ignore[arg-type]
    assert cfg.effective_port == 1883
