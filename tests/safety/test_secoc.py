

def test_two_processes_provisioning_the_same_dev_key_path_get_the_same_key(tmp_path):
    """The compute box and a simulated gateway in other processes (the DDS graph) key from one path."""
    import subprocess
    import sys

    code = ("import sys; from vehicle_runtime import keys; "
            "print(keys.provision('secoc', sys.argv[1], 'simulated', 16).hex())")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "k" / "secoc.key")], stdout=subprocess.PIPE,
                              text=True) for _ in range(4)]
    outs = {p.communicate(timeout=60)[0].strip() for p in procs}
    assert len(outs) == 1 and len(outs.pop()) == 32
