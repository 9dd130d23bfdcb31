"""The replay gate's verdict signed into a fleet build (docs/fleet.md: record → replay → sign → flash)."""

import json
import shutil

from conftest import REPO
from vehicle_runtime.bundle import archive, signing

HW = "box-gen2"


def test_a_passing_replay_verdict_is_signed_into_the_build_and_a_failing_one_refused(tmp_path):
    """record → replay → sign → flash: `bundle create --replay-verdict` puts the gate's verdict under the
    signature (a verifier reads it back), and refuses to sign a candidate that failed the gate."""
    from vehicle_runtime import cli

    keys, share = tmp_path, tmp_path / "share"
    signing.keygen(keys / "k.pem", keys / "k.pub")
    for top in ("config", "models"):
        shutil.copytree(REPO / top, share / top)

    verdict = {"pass": True, "bags": [{"bag": "drive-1", "failures": []}], "thresholds": {"steer_max_rad": 0.01}}
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text("replay output\n" + json.dumps(verdict) + "\n")
    bad.write_text(json.dumps({**verdict, "pass": False}) + "\n")
    base = [
        "bundle",
        "create",
        "--key",
        str(keys / "k.pem"),
        "--version",
        "2.0.0",
        "--release-counter",
        "2",
        "--hardware-id",
        HW,
        "--share-dir",
        str(share),
    ]
    assert cli.main(base + ["--out", str(tmp_path / "ok.vrb"), "--replay-verdict", str(good)]) == 0
    info, _ = archive.verify(tmp_path / "ok.vrb", signing.load_public(keys / "k.pub"), HW)
    assert info.signed["build_info"]["replay"] == verdict
    assert cli.main(base + ["--out", str(tmp_path / "no.vrb"), "--replay-verdict", str(bad)]) == 1
    assert not (tmp_path / "no.vrb").exists()
